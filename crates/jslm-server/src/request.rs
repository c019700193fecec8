//! The request bodies of `/v1/completions` and `/v1/chat/completions`, read the way OpenAI's
//! clients expect: unknown fields are ignored, `null` is the same as absent, and a field of the
//! wrong type is a 400 naming it (`messages[0].content`). Values are checked by the engine's
//! own [`GenerationSettings::validate`] (its `BOUNDS`), with its field names mapped back to the
//! request's (`max_new_tokens` → `max_tokens`).
//!
//! Sampling: the model card's defaults ([`CARD_DEFAULTS`]: 256 tokens, temperature 1.0,
//! top_p 0.95, top_k 50) for what the request leaves out; `temperature: 0` is greedy.
//! Extensions: `top_k` (0 or -1 = off), `repetition_penalty` (as in vLLM and llama.cpp's
//! server) and, for chat, `input` (the card's 入力).

use crate::error::ApiError;
use crate::stop::MAX_STOPS;
use jslm_engine::settings::CARD_DEFAULTS;
use jslm_engine::GenerationSettings;
use serde::Deserialize;

/// Both routes' fields; each route reads the ones it needs.
#[derive(Debug, Default, Deserialize)]
pub struct OpenAiRequest {
    pub model: Option<String>,
    /// `/v1/completions`: a string, or a list of exactly one string.
    pub prompt: Option<OneOrMany>,
    /// `/v1/chat/completions`.
    pub messages: Option<Vec<Message>>,
    /// Chat extension: the card's 入力, left out of the prompt when empty.
    pub input: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<u64>,
    /// The newer name of `max_tokens` in chat requests.
    pub max_completion_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// 0 or -1: off (-1 is vLLM's and SGLang's "off", which `jslm-remote` sends).
    pub top_k: Option<i64>,
    pub repetition_penalty: Option<f64>,
    pub seed: Option<u64>,
    pub stop: Option<OneOrMany>,
    pub n: Option<u64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    /// What this server does not do, read only to refuse a request that asks for it (see
    /// [`UNSUPPORTED`]).
    #[serde(flatten)]
    pub unsupported: Unsupported,
}

/// Fields of OpenAI's API that ask for what one local instruct model does not give. A
/// request that asks for one is refused by name: a client that asked reads the answer for
/// it (`choices[0].logprobs.content`, tool calls, JSON) and would fail on a plain answer.
/// Their "off" values (`false`, `0`, `[]`, `{}`, `""`, `null`, `best_of: 1`,
/// `response_format: {"type": "text"}`) are accepted, as clients send them by default.
#[derive(Debug, Default, Deserialize)]
pub struct Unsupported {
    logprobs: Option<serde_json::Value>,
    top_logprobs: Option<serde_json::Value>,
    tools: Option<serde_json::Value>,
    functions: Option<serde_json::Value>,
    response_format: Option<serde_json::Value>,
    logit_bias: Option<serde_json::Value>,
    echo: Option<serde_json::Value>,
    best_of: Option<serde_json::Value>,
    suffix: Option<serde_json::Value>,
}

/// The fields of [`Unsupported`], with why each is refused.
const UNSUPPORTED: [(&str, &str); 9] = [
    ("logprobs", "log probabilities are not returned"),
    ("top_logprobs", "log probabilities are not returned"),
    ("tools", "this model does not call tools"),
    ("functions", "this model does not call functions"),
    (
        "response_format",
        "only {\"type\": \"text\"}: the answer is not constrained to JSON",
    ),
    ("logit_bias", "logit biases are not applied"),
    ("echo", "the prompt is not echoed"),
    ("best_of", "one answer is generated per request; only 1"),
    ("suffix", "text after the insertion point is not supported"),
];

impl Unsupported {
    /// The first field that asks for something, with why it is refused.
    fn asked(&self) -> Option<(&'static str, &'static str)> {
        use serde_json::Value;
        let values = [
            &self.logprobs,
            &self.top_logprobs,
            &self.tools,
            &self.functions,
            &self.response_format,
            &self.logit_bias,
            &self.echo,
            &self.best_of,
            &self.suffix,
        ];
        let asks = |(name, value): (&str, &Value)| match (name, value) {
            ("best_of", Value::Number(n)) => n.as_f64() != Some(1.0),
            ("response_format", Value::Object(o)) => {
                !(o.len() == 1 && o.get("type") == Some(&Value::from("text")))
            }
            (_, Value::Null) => false,
            (_, Value::Bool(b)) => *b,
            (_, Value::Number(n)) => n.as_f64() != Some(0.0),
            (_, Value::String(s)) => !s.is_empty(),
            (_, Value::Array(a)) => !a.is_empty(),
            (_, Value::Object(o)) => !o.is_empty(),
        };
        UNSUPPORTED
            .iter()
            .zip(values)
            .find(|((name, _), value)| value.as_ref().is_some_and(|v| asks((name, v))))
            .map(|(&field, _)| field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

/// A string or a list of strings (`prompt`, `stop`).
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        match Raw::deserialize(d) {
            Ok(Raw::One(s)) => Ok(Self::One(s)),
            Ok(Raw::Many(v)) => Ok(Self::Many(v)),
            Err(_) => Err(serde::de::Error::custom(
                "must be a string or a list of strings",
            )),
        }
    }
}

/// One chat message. `content` is a string or a list of text parts.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Content(pub String);

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Part {
            #[serde(rename = "type")]
            kind: String,
            text: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Parts(Vec<Part>),
        }
        let fail = || {
            serde::de::Error::custom(
                "must be a string or a list of {\"type\": \"text\", \"text\": ...} parts \
                 (this model reads text only)",
            )
        };
        match Raw::deserialize(d).map_err(|_| fail())? {
            Raw::Text(s) => Ok(Self(s)),
            Raw::Parts(parts) => parts
                .into_iter()
                .map(|p| match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => Ok(t),
                    _ => Err(fail()),
                })
                .collect::<Result<String, _>>()
                .map(Self),
        }
    }
}

/// What every generation request carries besides its prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub settings: GenerationSettings,
    pub stops: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// The request's name for the engine's `max_new_tokens`.
    pub max_tokens_field: &'static str,
}

/// Parses a body; a wrong type names the field.
pub fn parse(body: &[u8]) -> Result<OpenAiRequest, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::malformed(without_position(&e)))?;
    if !value.is_object() {
        return Err(ApiError::malformed("it must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(
            path,
            format!("is not valid: {}", without_position(e.inner())),
        )
    })
}

/// serde_json's message without its " at line 1 column 9" (the body is the client's own).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

impl OpenAiRequest {
    /// The sampling settings, stop strings and streaming choice, checked against the engine's
    /// bounds.
    pub fn sampling(&self) -> Result<Sampling, ApiError> {
        if let Some(n) = self.n.filter(|&n| n != 1) {
            return Err(ApiError::invalid(
                "n",
                format!("must be 1: one model generates one answer per request. Given: {n}"),
            ));
        }
        for (field, value) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if let Some(v) = value.filter(|&v| v != 0.0) {
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "is not supported (use `repetition_penalty`, transformers' penalty, \
                         1.0 = off); only 0 is accepted. Given: {v}"
                    ),
                ));
            }
        }
        if let Some((field, why)) = self.unsupported.asked() {
            return Err(ApiError::invalid(field, format!("is not supported: {why}")));
        }
        let (max_tokens_field, max_tokens) = match (self.max_completion_tokens, self.max_tokens) {
            (Some(m), _) => ("max_completion_tokens", Some(m)),
            (None, m) => ("max_tokens", m),
        };
        let settings = GenerationSettings {
            max_new_tokens: max_tokens.map_or(CARD_DEFAULTS.max_new_tokens, |m| {
                usize::try_from(m).unwrap_or(usize::MAX)
            }),
            do_sample: true,
            temperature: self.temperature.unwrap_or(CARD_DEFAULTS.temperature),
            top_p: self.top_p.unwrap_or(CARD_DEFAULTS.top_p),
            top_k: match self.top_k {
                None => CARD_DEFAULTS.top_k,
                Some(-1) => 0,
                Some(k) if k < 0 => {
                    return Err(ApiError::invalid(
                        "top_k",
                        format!("must be 0 or -1 (off), or at least 1. Given: {k}"),
                    ))
                }
                Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
            },
            repetition_penalty: self
                .repetition_penalty
                .unwrap_or(CARD_DEFAULTS.repetition_penalty),
            seed: self.seed,
        };
        let rename = |f: &str| rename_field(f, max_tokens_field);
        settings
            .validate()
            .map_err(|e| ApiError::from_engine(&e, rename))?;
        let stops = match &self.stop {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s.clone()],
            Some(OneOrMany::Many(v)) => v.clone(),
        };
        if stops.len() > MAX_STOPS {
            return Err(ApiError::invalid(
                "stop",
                format!(
                    "may hold at most {MAX_STOPS} strings. Given: {}",
                    stops.len()
                ),
            ));
        }
        if let Some(i) = stops.iter().position(|s| s.is_empty()) {
            return Err(ApiError::invalid(format!("stop[{i}]"), "must not be empty"));
        }
        Ok(Sampling {
            settings,
            stops,
            stream: self.stream.unwrap_or(false),
            include_usage: self
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            max_tokens_field,
        })
    }

    /// The raw prompt of `/v1/completions`.
    pub fn raw_prompt(&self) -> Result<String, ApiError> {
        match &self.prompt {
            None => Err(ApiError::invalid("prompt", "is required")),
            Some(OneOrMany::One(p)) => Ok(p.clone()),
            Some(OneOrMany::Many(v)) if v.len() == 1 => Ok(v[0].clone()),
            Some(OneOrMany::Many(v)) => Err(ApiError::invalid(
                "prompt",
                format!(
                    "must be one string (one model, one answer per request). Given: a list of {}",
                    v.len()
                ),
            )),
        }
    }
}

/// The request's name for an engine setting.
pub fn rename_field(engine_field: &str, max_tokens_field: &str) -> String {
    match engine_field {
        "max_new_tokens" => max_tokens_field.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sampling(body: &str) -> Result<Sampling, ApiError> {
        parse(body.as_bytes())?.sampling()
    }

    fn param(result: Result<Sampling, ApiError>) -> String {
        let e = result.unwrap_err();
        assert_eq!(e.status, 400, "{e:?}");
        e.param.unwrap_or_default()
    }

    #[test]
    fn defaults_are_the_model_card_and_unknown_fields_are_ignored() {
        let s =
            sampling(r#"{"model": "x", "logit_bias": {}, "user": "u", "top_p": null}"#).unwrap();
        assert_eq!(s.settings, CARD_DEFAULTS);
        assert!(!s.stream && s.stops.is_empty());
        let greedy = sampling(r#"{"temperature": 0, "max_tokens": 7, "seed": 3}"#).unwrap();
        assert!(!greedy.settings.samples());
        assert_eq!(greedy.settings.max_new_tokens, 7);
        assert_eq!(greedy.settings.seed, Some(3));
        let ext = sampling(
            r#"{"top_k": 0, "repetition_penalty": 1.1, "stop": "。", "stream": true,
                "stream_options": {"include_usage": true}, "n": 1, "presence_penalty": 0}"#,
        )
        .unwrap();
        assert_eq!(
            (ext.settings.top_k, ext.settings.repetition_penalty),
            (0, 1.1)
        );
        // vLLM's "off".
        let off = sampling(r#"{"top_k": -1}"#).unwrap();
        assert_eq!(off.settings.top_k, 0);
        assert_eq!(ext.stops, ["。"]);
        assert!(ext.stream && ext.include_usage);
        // Up to 16 stop strings (editor plugins send more than OpenAI's 4).
        let stops: Vec<String> = (0..MAX_STOPS).map(|i| format!("</s{i}>")).collect();
        let many = sampling(&json!({ "stop": stops }).to_string()).unwrap();
        assert_eq!(many.stops, stops);
        let newer = sampling(r#"{"max_completion_tokens": 9, "max_tokens": 3}"#).unwrap();
        assert_eq!(newer.settings.max_new_tokens, 9);
        // What clients send by default for features they do not use.
        sampling(
            r#"{"logprobs": false, "top_logprobs": null, "tools": [], "functions": null,
                "response_format": {"type": "text"}, "logit_bias": null, "echo": false,
                "best_of": 1, "suffix": "", "tool_choice": "none"}"#,
        )
        .unwrap();
    }

    #[test]
    fn wrong_types_and_ranges_name_the_field() {
        let cases = [
            (r#"{"temperature": "hot"}"#, "temperature"),
            (r#"{"temperature": -1}"#, "temperature"),
            (r#"{"temperature": 1000}"#, "temperature"),
            (r#"{"top_p": 0}"#, "top_p"),
            (r#"{"top_p": 1.5}"#, "top_p"),
            (r#"{"top_k": -2}"#, "top_k"),
            (r#"{"top_k": 1.5}"#, "top_k"),
            (r#"{"top_k": 99999}"#, "top_k"),
            (r#"{"max_tokens": 0}"#, "max_tokens"),
            (r#"{"max_tokens": -5}"#, "max_tokens"),
            (r#"{"max_tokens": 1e9}"#, "max_tokens"),
            (
                r#"{"max_completion_tokens": 100000}"#,
                "max_completion_tokens",
            ),
            (r#"{"repetition_penalty": 0}"#, "repetition_penalty"),
            (r#"{"seed": "s"}"#, "seed"),
            (r#"{"stream": "yes"}"#, "stream"),
            (r#"{"stop": 5}"#, "stop"),
            (
                r#"{"stop": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                             "n", "o", "p", "q"]}"#,
                "stop",
            ),
            (r#"{"stop": ["a", ""]}"#, "stop[1]"),
            (r#"{"n": 2}"#, "n"),
            (r#"{"frequency_penalty": 0.5}"#, "frequency_penalty"),
            (r#"{"logprobs": true}"#, "logprobs"),
            (r#"{"logprobs": 5}"#, "logprobs"),
            (r#"{"top_logprobs": 2}"#, "top_logprobs"),
            (r#"{"tools": [{"type": "function"}]}"#, "tools"),
            (r#"{"functions": [{"name": "f"}]}"#, "functions"),
            (
                r#"{"response_format": {"type": "json_object"}}"#,
                "response_format",
            ),
            (r#"{"logit_bias": {"50256": -100}}"#, "logit_bias"),
            (r#"{"echo": true}"#, "echo"),
            (r#"{"best_of": 3}"#, "best_of"),
            (r#"{"suffix": "end"}"#, "suffix"),
            (
                r#"{"messages": [{"role": "user", "content": 1}]}"#,
                "messages[0].content",
            ),
            (r#"{"messages": [{"content": "x"}]}"#, "messages[0]"),
            (
                r#"{"stream_options": {"include_usage": 1}}"#,
                "stream_options.include_usage",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(param(sampling(body)), field, "{body}");
        }
        let e = sampling(r#"{"top_p": 1.5}"#).unwrap_err();
        assert_eq!(
            e.body()["error"]["message"],
            "`top_p` must be > 0 and <= 1. Given: 1.5"
        );
        assert_eq!(e.body()["error"]["type"], "invalid_request_error");
        let e = sampling(r#"{"temperature": "hot"}"#).unwrap_err();
        assert!(!e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused() {
        for body in ["", "[]", "nul", "{\"a\":"] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.code, "invalid_request");
        }
    }

    #[test]
    fn prompts_and_contents() {
        let one = |body: &str| parse(body.as_bytes()).unwrap().raw_prompt();
        assert_eq!(one(r#"{"prompt": "a"}"#).unwrap(), "a");
        assert_eq!(one(r#"{"prompt": ["b"]}"#).unwrap(), "b");
        assert_eq!(
            one(r#"{"prompt": ["b", "c"]}"#).unwrap_err().param.unwrap(),
            "prompt"
        );
        assert_eq!(one(r#"{}"#).unwrap_err().param.unwrap(), "prompt");
        let e = parse(br#"{"prompt": [1, 2]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("prompt"));
        let parts = parse(
            br#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            parts.messages.unwrap()[0].content,
            Some(Content("ab".into()))
        );
        let image = parse(
            br#"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(image.param.as_deref(), Some("messages[0].content"));
    }
}
