//! The server's answers on the tiny model, over real HTTP: whole and streamed, chat and raw,
//! equal to the engine's own generation (and so to transformers' reference), usage and
//! finish reasons, seeds and stop strings.

mod common;

use common::*;
use jslm_engine::{AnswerStart, CancelFlag, GenerationRequest, GenerationSettings};
use jslm_server::ServerConfig;
use serde_json::{json, Value};

async fn post(url: &str, path: &str, body: Value) -> (u16, String) {
    let resp = client()
        .post(format!("{url}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn post_json(url: &str, path: &str, body: Value) -> Value {
    let (status, text) = post(url, path, body).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The streamed text, the chunks' JSON and whether the stream ended with `[DONE]`.
async fn stream(url: &str, path: &str, body: Value) -> (String, Vec<Value>) {
    let (status, text) = post(url, path, body).await;
    assert_eq!(status, 200, "{text}");
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let mut joined = String::new();
    for c in &chunks {
        let choice = &c["choices"][0];
        let piece = choice["delta"]["content"]
            .as_str()
            .or(choice["text"].as_str())
            .unwrap_or("");
        joined.push_str(piece);
    }
    (joined, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_chat_is_the_engines_own_answer_and_transformers() {
    let server = serve(ServerConfig::default(), 4).await;
    let case = case(1);
    let request = GenerationRequest {
        instruction: case.instruction.clone(),
        input: case.input.clone(),
        settings: GenerationSettings::greedy(24),
    };
    let own = server
        .engine
        .generate(&request, &CancelFlag::new(), |_| {})
        .unwrap();
    assert_eq!(own.generated_token_ids, case.greedy_ids);
    let body = json!({
        "model": "tiny-mistral",
        "messages": [{"role": "user", "content": case.instruction}],
        "input": case.input,
        "temperature": 0,
        "max_tokens": 24,
    });
    let answer = post_json(&server.url, "/chat/completions", body.clone()).await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], own.text.as_str());
    assert_eq!(choice["message"]["content"], case.greedy_text.as_str());
    let eos = own.generated_token_ids.last() == Some(&2);
    assert_eq!(choice["finish_reason"], if eos { "stop" } else { "length" });
    assert_eq!(answer["usage"]["prompt_tokens"], own.prompt_token_ids.len());
    assert_eq!(
        answer["usage"]["completion_tokens"],
        own.generated_token_ids.len()
    );
    assert_eq!(answer["model"], "tiny-mistral");
    assert_eq!(answer["object"], "chat.completion");

    // Streamed: the chunks add up to the same answer; role first, finish reason last.
    let mut streamed = body;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (joined, chunks) = stream(&server.url, "/chat/completions", streamed).await;
    assert_eq!(joined, own.text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let closing = &chunks[chunks.len() - 2];
    assert_eq!(
        closing["choices"][0]["finish_reason"],
        choice["finish_reason"]
    );
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], answer["usage"]);
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(server.model.stats().finished, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_completions_run_the_prompt_as_given() {
    let server = serve(ServerConfig::default(), 4).await;
    let settings = GenerationSettings::greedy(20);
    let prompt = "昔々あるところに";
    let own = server
        .engine
        .generate_raw(
            prompt,
            AnswerStart::Continuation,
            &settings,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    // A raw completion continues the prompt, not stripped: `decode(prompt + answer)` less
    // `decode(prompt)`, so its first token keeps its leading space, as OpenAI's does.
    let tokenizer = server.engine.tokenizer();
    let whole = [
        own.prompt_token_ids.clone(),
        own.generated_token_ids.clone(),
    ]
    .concat();
    let before = tokenizer.decode(&own.prompt_token_ids).unwrap();
    let decoded = tokenizer.decode(&whole).unwrap()[before.len()..].to_string();
    assert_eq!(
        decoded.trim_start(),
        tokenizer.decode(&own.generated_token_ids).unwrap()
    );
    // Some prompt whose answer starts with a word: its space is kept, whole and streamed.
    let spaced = [
        "The capital of France is",
        "Hello",
        "日本の首都は",
        "A",
        "1, 2, 3,",
    ]
    .into_iter()
    .find_map(|prompt| {
        let body = json!({"prompt": prompt, "temperature": 0, "max_tokens": 3});
        let out = server
            .engine
            .generate_raw(
                prompt,
                AnswerStart::Continuation,
                &GenerationSettings::greedy(3),
                &CancelFlag::new(),
                |_| {},
            )
            .unwrap();
        let first = &tokenizer.pieces()[out.generated_token_ids[0] as usize];
        matches!(first, jslm_engine::stream::Piece::Text(t) if t.starts_with(' ')).then_some(body)
    })
    .expect("a prompt whose greedy answer starts with a word");
    let whole = post_json(&server.url, "/completions", spaced.clone()).await;
    let text = whole["choices"][0]["text"].as_str().unwrap();
    assert!(text.starts_with(' ') && !text.starts_with("  "), "{text:?}");
    let mut streamed = spaced;
    streamed["stream"] = json!(true);
    assert_eq!(stream(&server.url, "/completions", streamed).await.0, text);
    let body = json!({"prompt": prompt, "temperature": 0, "max_tokens": 20});
    let answer = post_json(&server.url, "/completions", body.clone()).await;
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["choices"][0]["text"], decoded.as_str());
    assert_eq!(answer["usage"]["prompt_tokens"], own.prompt_token_ids.len());
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (joined, chunks) = stream(&server.url, "/completions", streamed).await;
    assert_eq!(joined, decoded);
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert!(chunks.last().unwrap()["choices"][0]["finish_reason"].is_string());
    // The card's prompt sent raw gives the chat answer's tokens.
    let case = case(2);
    let card = jslm_engine::PromptTemplate.build(&case.instruction, &case.input);
    let raw = post_json(
        &server.url,
        "/completions",
        json!({"prompt": [card], "temperature": 0, "max_tokens": 24}),
    )
    .await;
    let text = raw["choices"][0]["text"].as_str().unwrap();
    assert_eq!(jslm_engine::stream::python_strip(text), case.greedy_text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_repeats_a_sampled_answer() {
    let server = serve(ServerConfig::default(), 4).await;
    let body = |seed: u64| {
        json!({"messages": [{"role": "user", "content": "春の俳句を。"}],
               "seed": seed, "max_tokens": 16, "top_k": 0, "top_p": 1.0,
               "repetition_penalty": 1.2})
    };
    let text = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = text(post_json(&server.url, "/chat/completions", body(7)).await);
    let b = text(post_json(&server.url, "/chat/completions", body(7)).await);
    let c = text(post_json(&server.url, "/chat/completions", body(8)).await);
    assert_eq!(a, b);
    assert_ne!(a, c);
    // The same settings through the engine directly give the same text.
    let own = server
        .engine
        .generate(
            &GenerationRequest {
                instruction: "春の俳句を。".into(),
                input: String::new(),
                settings: GenerationSettings {
                    max_new_tokens: 16,
                    top_k: 0,
                    top_p: 1.0,
                    repetition_penalty: 1.2,
                    seed: Some(7),
                    ..Default::default()
                },
            },
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    assert_eq!(a, own.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_message_replaces_the_cards_sentence() {
    let server = serve(ServerConfig::default(), 4).await;
    let system = "あなたは親切な先生です。";
    let settings = GenerationSettings::greedy(12);
    let prompt = jslm_engine::PromptTemplate.build_with_system(system, "日本の首都は？", "");
    let own = server
        .engine
        .generate_raw(
            &prompt,
            AnswerStart::Card,
            &settings,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    let answer = post_json(
        &server.url,
        "/chat/completions",
        json!({"messages": [{"role": "system", "content": system},
                            {"role": "user", "content": "日本の首都は？"}],
               "temperature": 0, "max_tokens": 12}),
    )
    .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        own.text.as_str()
    );
    assert_eq!(answer["usage"]["prompt_tokens"], own.prompt_token_ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_strings_end_the_answer_before_them() {
    let server = serve(ServerConfig::default(), 4).await;
    let case = case(1);
    let body = |stop: Value, stream: bool| {
        json!({"messages": [{"role": "user", "content": case.instruction}], "input": case.input,
               "temperature": 0, "max_tokens": 24, "stop": stop, "stream": stream})
    };
    // A piece from the middle of the known greedy answer.
    let chars: Vec<char> = case.greedy_text.chars().collect();
    let stop: String = chars[10..13].iter().collect();
    let before = &case.greedy_text[..case.greedy_text.find(&stop).unwrap()];
    let answer = post_json(
        &server.url,
        "/chat/completions",
        body(json!([stop, "never"]), false),
    )
    .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        before.trim_end()
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() < 24);
    let (joined, chunks) = stream(&server.url, "/chat/completions", body(json!(stop), true)).await;
    assert_eq!(joined, before.trim_end());
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    // A stop string that never comes changes nothing.
    let answer = post_json(
        &server.url,
        "/chat/completions",
        body(json!("絶対に出ない"), false),
    )
    .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        case.greedy_text.as_str()
    );
    // Nor does one that the answer's last characters begin: held back while it might come,
    // they are sent when the answer ends without it.
    let last: String = chars[chars.len() - 2..].iter().collect();
    let almost = json!(format!("{last}絶対に出ない"));
    let answer = post_json(
        &server.url,
        "/chat/completions",
        body(almost.clone(), false),
    )
    .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        case.greedy_text.as_str()
    );
    let (joined, _) = stream(&server.url, "/chat/completions", body(almost, true)).await;
    assert_eq!(joined, case.greedy_text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_one_model_without_paths() {
    let server = serve(ServerConfig::default(), 4).await;
    let resp = client()
        .get(format!("{}/models", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["id"], "tiny-mistral");
    assert_eq!(body["data"][0]["object"], "model");
    assert_eq!(body["data"][0]["max_model_len"], 4096);
    let text = body.to_string();
    assert!(!text.contains("fixtures") && !text.contains('/'), "{text}");
}

/// OpenAI's "retrieve model" (`GET /v1/models/{model}`), for a served name holding `/` as
/// clients send it: as it is, or with the slash encoded. Another name is OpenAI's 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_by_its_name_even_with_a_slash() {
    let name = "stabilityai/tiny-mistral";
    let server = serve_named(engine(), name, ServerConfig::default(), 4).await;
    let list: Value = client()
        .get(format!("{}/models", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["stabilityai/tiny-mistral", "stabilityai%2Ftiny-mistral"] {
        let resp = client()
            .get(format!("{}/models/{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let one: Value = resp.json().await.unwrap();
        assert_eq!(one, list["data"][0], "{path}");
        assert_eq!(one["id"], name);
    }
    for path in ["gpt-4o", "stabilityai", "stabilityai/tiny-mistral/x"] {
        let resp = client()
            .get(format!("{}/models/{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "model_not_found", "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
    }
}

/// A request whose prompt starts like the previous one's runs from where it differs, reports
/// the reused positions as OpenAI's `cached_tokens`, and answers as from an empty cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_that_starts_like_the_last_reuses_its_cache() {
    let server = serve_engine(gguf_engine(), ServerConfig::default(), 4).await;
    let body = |content: &str| {
        json!({"messages": [{"role": "user", "content": content}],
               "temperature": 0, "max_tokens": 8})
    };
    let cached = |v: &Value| v["usage"]["prompt_tokens_details"]["cached_tokens"].clone();
    let first = post_json(&server.url, "/chat/completions", body("日本の首都は？")).await;
    assert_eq!(cached(&first), 0);
    let again = post_json(&server.url, "/chat/completions", body("日本の首都は？")).await;
    let other = post_json(&server.url, "/chat/completions", body("富士山の高さは？")).await;
    let prompt = |v: &Value| v["usage"]["prompt_tokens"].as_u64().unwrap();
    // All of the same prompt (without the x86 tiles the cache also holds the answer's
    // decoded tokens, so the prompt's last token runs); the card's system sentence and first
    // heading (68 tokens) of another.
    let tiles = cfg!(target_arch = "x86_64")
        && jslm_engine::isa::Isa::resolve(None).unwrap() != jslm_engine::isa::Isa::Generic;
    assert_eq!(cached(&again), prompt(&again) - if tiles { 0 } else { 1 });
    assert_eq!(cached(&other), 68);
    assert_eq!(again["choices"], first["choices"]);
}

/// The chat route answers as the card decodes: no leading space for a stop string to catch.
/// (Since raw completions keep the first token's space, the chat route must not: a stop
/// string `" "` ended every answer that starts with a word, empty.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_string_of_a_space_does_not_catch_the_answers_start() {
    let server = serve(ServerConfig::default(), 4).await;
    let tokenizer = server.engine.tokenizer();
    let instruction = ["日本の首都は？", "Hello", "1, 2, 3,", "A", "こんにちは"]
        .into_iter()
        .find(|instruction| {
            let prompt = jslm_engine::PromptTemplate.build(instruction, "");
            let out = server
                .engine
                .generate_raw(
                    &prompt,
                    AnswerStart::Continuation,
                    &GenerationSettings::greedy(2),
                    &CancelFlag::new(),
                    |_| {},
                )
                .unwrap();
            let first = &tokenizer.pieces()[out.generated_token_ids[0] as usize];
            matches!(first, jslm_engine::stream::Piece::Text(t) if t.starts_with(' ') && t.len() > 1)
        })
        .expect("an instruction whose greedy answer starts with a word");
    let answer = post_json(
        &server.url,
        "/chat/completions",
        json!({"messages": [{"role": "user", "content": instruction}],
               "temperature": 0, "max_tokens": 2, "stop": [" "]}),
    )
    .await;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.is_empty(), "{answer}");
}
