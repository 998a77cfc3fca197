//! Chinese text analysis shared by indexing and querying: one jieba dictionary, one
//! normalisation, so that a query token and an indexed token for the same word are equal.
//!
//! Documents are cut in jieba's *search mode* (every word plus its 2- and 3-character
//! dictionary sub-words: 社会保障卡 → 社会, 保障, 社会保障卡, …) for recall. Queries are cut in
//! both modes: the words of the default (precise) cut are *primary* terms, the extra sub-words
//! of the search cut are *secondary* terms with a lower weight, so that 社会保障卡 ranks leaves
//! saying 社会保障卡 above leaves that merely say 社会.

use std::collections::HashMap;
use std::sync::LazyLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use super::vocabulary::DEFAULT_SYNONYMS;

/// The name the tokenizer is registered under in the tantivy index.
pub(crate) const TOKENIZER_NAME: &str = "hotline_zh";

/// Tokens longer than this (in bytes) are dropped: no one searches for them, and tantivy
/// refuses terms over 64 KiB.
const MAX_TOKEN_BYTES: usize = 96;

/// Hotline vocabulary that the stock jieba dictionary cuts apart. Added as whole words so
/// that they are one token (and their parts are still emitted in search mode).
const EXTRA_WORDS: &[&str] = &[
    "参保",
    "中途参保",
    "参保登记",
    "城乡居民",
    "大病保险",
    "新生儿",
    "婴幼儿",
    "社保卡",
    "医保卡",
    "医保",
    "社保",
    "公积金",
    "居住证",
    "积分入户",
    "入户",
    "网约车",
    "共享单车",
    "电动自行车",
    "违章停车",
    "噪音扰民",
    "欠薪",
    "退役军人",
    "低保",
    "残疾人证",
    "不动产登记",
    "12345",
];

/// Words that carry no meaning for retrieval; dropped from queries (not from documents, where
/// BM25's IDF already makes them nearly free).
const STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "哦",
    "嗯",
    "是",
    "在",
    "和",
    "与",
    "及",
    "或",
    "或者",
    "还是",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "他们",
    "自己",
    "请问",
    "请",
    "麻烦",
    "想",
    "想要",
    "想问",
    "问",
    "问一下",
    "一下",
    "怎么",
    "怎么办",
    "怎样",
    "怎么样",
    "如何",
    "什么",
    "哪里",
    "哪儿",
    "哪些",
    "哪个",
    "为什么",
    "可以",
    "可不可以",
    "能",
    "能否",
    "能不能",
    "需要",
    "要",
    "有",
    "有没有",
    "没有",
    "这",
    "那",
    "这个",
    "那个",
    "这样",
    "那样",
    "就",
    "都",
    "也",
    "还",
    "又",
    "被",
    "把",
    "对",
    "从",
    "到",
    "为",
    "为了",
    "以及",
    "等",
    "等等",
    "如果",
    "的话",
    "应该",
    "一个",
    "个",
    "些",
    "已经",
    "现在",
    "时候",
    "但是",
    "但",
    "因为",
    "所以",
    "然后",
    "而且",
    "并且",
    "关于",
    "对于",
    "给",
    "让",
    "跟",
    "着",
    "过",
    "地",
    "得",
    "很",
    "太",
    "非常",
    "比较",
    "谢谢",
    "你好",
    "您好",
    "喂",
    "the",
    "a",
    "an",
    "of",
    "to",
    "and",
    "or",
    "is",
    "in",
];

static STOP_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// The one jieba instance: the stock dictionary plus [`EXTRA_WORDS`] and every term of the
/// default synonym table. Loaded once per process (about a quarter of a second), shared by
/// every index and every tokenizer clone (tantivy clones tokenizers per indexing thread, so a
/// tokenizer owning a `Jieba` would copy the whole dictionary each time).
static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba = Jieba::new();
    let synonym_words = DEFAULT_SYNONYMS.iter().flat_map(|group| group.iter());
    for word in EXTRA_WORDS.iter().chain(synonym_words) {
        if word.chars().count() >= 2 && !jieba.has_word(word) {
            jieba.add_word(word, None, None);
        }
    }
    jieba
});

/// Loads the dictionary now rather than on the first document or query.
pub(crate) fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// Folds what users type inconsistently: full-width ASCII (`ＡＢＣ１２３`) to half-width, and
/// letters to lower case. Chinese is left as it is.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Whether a token is worth indexing at all: it has a letter or digit (jieba also emits
/// punctuation and whitespace as tokens) and is not absurdly long.
fn indexable(word: &str) -> bool {
    word.len() <= MAX_TOKEN_BYTES && word.chars().any(char::is_alphanumeric)
}

/// Whether a query token is a stop word.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_SET.contains(word)
}

/// The words of a query or a ticket's text, normalised, without stop words, with their role.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryWord {
    pub text: String,
    /// How many times the word occurs in the text.
    pub count: u32,
    /// A word of the precise cut (as opposed to a sub-word found only by the search cut).
    pub primary: bool,
    /// Number of characters.
    pub chars: usize,
}

/// Cuts a query into distinct words (first occurrence order) and drops stop words and
/// punctuation. Single characters are kept; the caller decides what they weigh.
pub(crate) fn query_words(normalized: &str) -> Vec<QueryWord> {
    let mut out: Vec<QueryWord> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    let precise = JIEBA.cut(normalized, true);
    let search = JIEBA.cut_for_search(normalized, true);
    let words = precise
        .iter()
        .map(|t| (t.word, true))
        .chain(search.iter().map(|t| (t.word, false)));
    for (word, primary) in words {
        if !indexable(word) || is_stop_word(word) {
            continue;
        }
        match at.get(word) {
            Some(&i) => {
                if primary {
                    out[i].count += 1;
                }
            }
            None => {
                at.insert(word, out.len());
                out.push(QueryWord {
                    text: word.to_owned(),
                    count: 1,
                    primary,
                    chars: word.chars().count(),
                });
            }
        }
    }
    out
}

/// The words of a short text (a synonym) in the precise cut, for expanding a synonym that
/// the dictionary does not know into a conjunction of its words.
pub(crate) fn precise_words(normalized: &str) -> Vec<String> {
    let mut words: Vec<String> = JIEBA
        .cut(normalized, true)
        .into_iter()
        .map(|t| t.word)
        .filter(|w| indexable(w))
        .map(str::to_owned)
        .collect();
    words.dedup();
    words
}

/// The tantivy tokenizer: normalise, cut in search mode, drop punctuation. Positions are
/// ordinal; the index keeps no positions anyway (no phrase queries).
#[derive(Clone, Default)]
pub(crate) struct ZhTokenizer;

/// Tokens computed up front (jieba cuts a whole text at once).
pub(crate) struct ZhTokenStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for ZhTokenizer {
    type TokenStream<'a> = ZhTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ZhTokenStream {
        let normalized = normalize(text);
        let tokens: Vec<Token> = JIEBA
            .cut_for_search(&normalized, true)
            .into_iter()
            .filter(|t| indexable(t.word))
            .enumerate()
            .map(|(position, t)| Token {
                // Offsets are into the normalised text; nothing reads them (no positions or
                // offsets are indexed and highlighting works on the stored text itself).
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position,
                text: t.word.to_owned(),
                position_length: 1,
            })
            .collect();
        ZhTokenStream {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

impl TokenStream for ZhTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_width_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３　Etc"), "abc123 etc");
        assert_eq!(normalize("社保卡"), "社保卡");
    }

    #[test]
    fn query_words_mark_precise_words_and_drop_noise() {
        let words = query_words(&normalize("请问，社会保障卡怎么办理？？"));
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert!(texts.contains(&"社会保障卡"), "{texts:?}");
        assert!(!texts.contains(&"请问"), "{texts:?}");
        assert!(!texts.iter().any(|t| t.contains('？') || t.contains('，')));
        let whole = words.iter().find(|w| w.text == "社会保障卡");
        assert!(whole.is_some_and(|w| w.primary));
        let part = words.iter().find(|w| w.text == "社会");
        assert!(part.is_none_or(|w| !w.primary));
    }

    #[test]
    fn tokenizer_skips_punctuation() {
        let mut tok = ZhTokenizer;
        let mut stream = tok.token_stream("新生儿，参保！");
        let mut seen = Vec::new();
        while let Some(t) = stream.next() {
            seen.push(t.text.clone());
        }
        assert!(seen.contains(&"新生儿".to_owned()), "{seen:?}");
        assert!(seen.contains(&"参保".to_owned()), "{seen:?}");
        assert!(seen.iter().all(|t| t.chars().any(char::is_alphanumeric)));
    }
}
