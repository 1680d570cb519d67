namespace QuantSharp.Tokenizers;

/// <summary>
/// A token matched whole in the text before the vocabulary model runs (Hugging Face's <c>added_tokens</c>): special
/// tokens (<c>&lt;|eot_id|&gt;</c>, <c>[gMASK]</c>) and user-added words.
/// </summary>
/// <param name="Content">The token's text.</param>
/// <param name="Id">Its id.</param>
/// <param name="Special">A control token: matched in text only when the caller asks for special tokens, and dropped
/// by decoding unless asked to keep it.</param>
/// <param name="LeftStrip">Whitespace before a match is absorbed into it.</param>
/// <param name="RightStrip">Whitespace after a match is absorbed into it.</param>
/// <param name="MatchedInText">False for ids that only exist as ids (ChatGLM3's <c>sop</c>, <c>[gMASK]</c>: their text is
/// never turned into the token, even with special-token parsing, as ChatGLM3's own tokenizer does).</param>
public sealed record AddedToken(string Content, int Id, bool Special, bool LeftStrip = false, bool RightStrip = false, bool MatchedInText = true);
