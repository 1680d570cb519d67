/* The plain AVX-512 read loop that `quantsharp bandwidth` is checked against (issue 16): each thread sums its
   contiguous slice of a 2 GiB buffer with four independent 512-bit accumulators; all threads start at a barrier;
   GB/s = bytes ÷ (last finish − first start), best of 7 passes.  Usage: readloop THREADS */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { MaxThreads = 64, Passes = 7 };
static float *buffer;
static size_t count;
static int threads;
static pthread_barrier_t barrier;
static double started[MaxThreads], finished[MaxThreads];
static float sums[MaxThreads];

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void *slice(void *arg)
{
    int i = (int)(long)arg;
    size_t first = count * i / threads, last = count * (i + 1) / threads;
    pthread_barrier_wait(&barrier);
    started[i] = now();
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    for (size_t k = first; k + 64 <= last; k += 64) {
        a = _mm512_add_ps(a, _mm512_loadu_ps(buffer + k));
        b = _mm512_add_ps(b, _mm512_loadu_ps(buffer + k + 16));
        c = _mm512_add_ps(c, _mm512_loadu_ps(buffer + k + 32));
        d = _mm512_add_ps(d, _mm512_loadu_ps(buffer + k + 48));
    }
    finished[i] = now();
    sums[i] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
    return NULL;
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > MaxThreads) { fprintf(stderr, "readloop: THREADS must be 1..%d\n", MaxThreads); return 2; }
    size_t bytes = (size_t)2 << 30;
    count = bytes / sizeof(float);
    buffer = aligned_alloc(64, bytes);
    if (!buffer) { fprintf(stderr, "readloop: cannot allocate 2 GiB\n"); return 1; }
    for (size_t i = 0; i < count; i++) buffer[i] = 1;
    double best = 0, checksum = 0;
    for (int pass = 0; pass < Passes; pass++) {
        pthread_t workers[MaxThreads];
        pthread_barrier_init(&barrier, NULL, threads);
        for (int i = 0; i < threads; i++) pthread_create(&workers[i], NULL, slice, (void *)(long)i);
        for (int i = 0; i < threads; i++) pthread_join(workers[i], NULL);
        pthread_barrier_destroy(&barrier);
        double begin = started[0], end = finished[0];
        for (int i = 0; i < threads; i++) {
            if (started[i] < begin) begin = started[i];
            if (finished[i] > end) end = finished[i];
            checksum += sums[i];
        }
        double rate = bytes / (end - begin) / 1e9;
        if (rate > best) best = rate;
    }
    printf("{\"threads\":%d,\"read_gb_per_second\":%.2f,\"checksum\":%.0f}\n", threads, best, checksum);
    return 0;
}
