using System.Globalization;

namespace QuantSharp.Formats.Gguf;

/// <summary>GGUF metadata value type ids (<c>enum gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    /// <summary><c>GGUF_TYPE_UINT8</c>.</summary>
    UInt8 = 0,
    /// <summary><c>GGUF_TYPE_INT8</c>.</summary>
    Int8 = 1,
    /// <summary><c>GGUF_TYPE_UINT16</c>.</summary>
    UInt16 = 2,
    /// <summary><c>GGUF_TYPE_INT16</c>.</summary>
    Int16 = 3,
    /// <summary><c>GGUF_TYPE_UINT32</c>.</summary>
    UInt32 = 4,
    /// <summary><c>GGUF_TYPE_INT32</c>.</summary>
    Int32 = 5,
    /// <summary><c>GGUF_TYPE_FLOAT32</c>.</summary>
    Float32 = 6,
    /// <summary><c>GGUF_TYPE_BOOL</c>.</summary>
    Bool = 7,
    /// <summary><c>GGUF_TYPE_STRING</c>.</summary>
    String = 8,
    /// <summary><c>GGUF_TYPE_ARRAY</c>.</summary>
    Array = 9,
    /// <summary><c>GGUF_TYPE_UINT64</c>.</summary>
    UInt64 = 10,
    /// <summary><c>GGUF_TYPE_INT64</c>.</summary>
    Int64 = 11,
    /// <summary><c>GGUF_TYPE_FLOAT64</c>.</summary>
    Float64 = 12,
}

/// <summary>
/// One typed GGUF metadata value: a scalar, a string, or an array whose elements share one type (arrays of arrays
/// allowed). Arrays are held as typed .NET arrays (<c>uint[]</c>, <c>float[]</c>, <c>string[]</c>, …; nested arrays as
/// <c>GgufValue[]</c>), so a 150k-entry vocabulary costs one array, not 150k values.
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    private readonly object _value;

    private GgufValue(GgufValueType type, GgufValueType elementType, object value)
    {
        Type = type;
        ElementType = elementType;
        _value = value;
    }

    /// <summary>The value's type.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays, the element type; otherwise equal to <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The value: a boxed scalar (<c>byte</c>, <c>sbyte</c>, <c>ushort</c>, <c>short</c>, <c>uint</c>, <c>int</c>,
    /// <c>float</c>, <c>bool</c>, <c>ulong</c>, <c>long</c>, <c>double</c>), a <c>string</c>, or a typed array.</summary>
    public object Value => _value;

    /// <summary>Number of elements of an array (0 for a scalar).</summary>
    public int ArrayLength => _value is Array a && Type == GgufValueType.Array ? a.Length : 0;

    /// <summary>A UInt8 value.</summary>
    public static GgufValue From(byte v) => new(GgufValueType.UInt8, GgufValueType.UInt8, v);
    /// <summary>A Int8 value.</summary>
    public static GgufValue From(sbyte v) => new(GgufValueType.Int8, GgufValueType.Int8, v);
    /// <summary>A UInt16 value.</summary>
    public static GgufValue From(ushort v) => new(GgufValueType.UInt16, GgufValueType.UInt16, v);
    /// <summary>A Int16 value.</summary>
    public static GgufValue From(short v) => new(GgufValueType.Int16, GgufValueType.Int16, v);
    /// <summary>A UInt32 value.</summary>
    public static GgufValue From(uint v) => new(GgufValueType.UInt32, GgufValueType.UInt32, v);
    /// <summary>A Int32 value.</summary>
    public static GgufValue From(int v) => new(GgufValueType.Int32, GgufValueType.Int32, v);
    /// <summary>A Float32 value.</summary>
    public static GgufValue From(float v) => new(GgufValueType.Float32, GgufValueType.Float32, v);
    /// <summary>A Bool value.</summary>
    public static GgufValue From(bool v) => new(GgufValueType.Bool, GgufValueType.Bool, v);
    /// <summary>A String value.</summary>
    public static GgufValue From(string v) => new(GgufValueType.String, GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));
    /// <summary>A UInt64 value.</summary>
    public static GgufValue From(ulong v) => new(GgufValueType.UInt64, GgufValueType.UInt64, v);
    /// <summary>A Int64 value.</summary>
    public static GgufValue From(long v) => new(GgufValueType.Int64, GgufValueType.Int64, v);
    /// <summary>A Float64 value.</summary>
    public static GgufValue From(double v) => new(GgufValueType.Float64, GgufValueType.Float64, v);

    /// <summary>An array of UInt8 values.</summary>
    public static GgufValue Array(byte[] v) => new(GgufValueType.Array, GgufValueType.UInt8, v);
    /// <summary>An array of Int8 values.</summary>
    public static GgufValue Array(sbyte[] v) => new(GgufValueType.Array, GgufValueType.Int8, v);
    /// <summary>An array of UInt16 values.</summary>
    public static GgufValue Array(ushort[] v) => new(GgufValueType.Array, GgufValueType.UInt16, v);
    /// <summary>An array of Int16 values.</summary>
    public static GgufValue Array(short[] v) => new(GgufValueType.Array, GgufValueType.Int16, v);
    /// <summary>An array of UInt32 values.</summary>
    public static GgufValue Array(uint[] v) => new(GgufValueType.Array, GgufValueType.UInt32, v);
    /// <summary>An array of Int32 values.</summary>
    public static GgufValue Array(int[] v) => new(GgufValueType.Array, GgufValueType.Int32, v);
    /// <summary>An array of Float32 values.</summary>
    public static GgufValue Array(float[] v) => new(GgufValueType.Array, GgufValueType.Float32, v);
    /// <summary>An array of Bool values.</summary>
    public static GgufValue Array(bool[] v) => new(GgufValueType.Array, GgufValueType.Bool, v);
    /// <summary>An array of String values.</summary>
    public static GgufValue Array(string[] v) => new(GgufValueType.Array, GgufValueType.String, v);
    /// <summary>An array of UInt64 values.</summary>
    public static GgufValue Array(ulong[] v) => new(GgufValueType.Array, GgufValueType.UInt64, v);
    /// <summary>An array of Int64 values.</summary>
    public static GgufValue Array(long[] v) => new(GgufValueType.Array, GgufValueType.Int64, v);
    /// <summary>An array of Float64 values.</summary>
    public static GgufValue Array(double[] v) => new(GgufValueType.Array, GgufValueType.Float64, v);

    /// <summary>An array of arrays; every element must itself be an array (element types may differ between elements).</summary>
    public static GgufValue Array(GgufValue[] v)
    {
        foreach (GgufValue e in v)
        {
            if (e.Type != GgufValueType.Array)
            {
                throw new ArgumentException("every element of a nested GGUF array must be an array", nameof(v));
            }
        }

        return new(GgufValueType.Array, GgufValueType.Array, v);
    }

    /// <summary>The string, or null when the value is not a string.</summary>
    public string? AsString() => _value as string;

    /// <summary>The array as <typeparamref name="T"/>[] (e.g. <c>string[]</c> for tokens, <c>float[]</c> for scores), or null when it is not one.</summary>
    public T[]? AsArray<T>() => Type == GgufValueType.Array ? _value as T[] : null;

    /// <summary>Any integer scalar (or a bool) as a long; false for other types and for a u64 above <see cref="long.MaxValue"/>.</summary>
    public bool TryGetInt64(out long value)
    {
        switch (_value)
        {
            case byte v: value = v; return true;
            case sbyte v: value = v; return true;
            case ushort v: value = v; return true;
            case short v: value = v; return true;
            case uint v: value = v; return true;
            case int v: value = v; return true;
            case long v: value = v; return true;
            case bool v: value = v ? 1 : 0; return true;
            case ulong v when v <= long.MaxValue: value = (long)v; return true;
            default: value = 0; return false;
        }
    }

    /// <summary>Any numeric scalar as a double; false for strings, bools and arrays.</summary>
    public bool TryGetDouble(out double value)
    {
        switch (_value)
        {
            case float v: value = v; return true;
            case double v: value = v; return true;
            case ulong v: value = v; return true;
            default:
                if (_value is not bool && TryGetInt64(out long l))
                {
                    value = l;
                    return true;
                }

                value = 0;
                return false;
        }
    }

    /// <summary>Scalars in invariant text; arrays as "[type × n]".</summary>
    public override string ToString() => _value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        System.Array a => $"[{ElementType} × {a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => _value.ToString() ?? string.Empty,
    };

    /// <summary>Same type and same content (float values compared bit for bit).</summary>
    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type || other.ElementType != ElementType)
        {
            return false;
        }

        return (_value, other._value) switch
        {
            (float a, float b) => BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b),
            (double a, double b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b),
            (GgufValue[] a, GgufValue[] b) => a.AsSpan().SequenceEqual(b),
            (string[] a, string[] b) => a.AsSpan().SequenceEqual(b),
            (float[] a, float[] b) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan())),
            (double[] a, double[] b) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan())),
            (bool[] a, bool[] b) => a.AsSpan().SequenceEqual(b),
            (System.Array a, System.Array b) => ArrayBytesEqual(a, b),
            _ => _value.Equals(other._value),
        };
    }

    private static bool ArrayBytesEqual(System.Array a, System.Array b)
    {
        if (a.GetType() != b.GetType() || a.Length != b.Length)
        {
            return false;
        }

        for (int i = 0; i < a.Length; i++)
        {
            if (!Equals(a.GetValue(i), b.GetValue(i)))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Type, ElementType, _value is System.Array a ? a.Length : _value.GetHashCode());
}
