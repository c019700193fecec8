//! Chat messages → the model card's prompt, by one rule that never guesses:
//!
//! - an optional first `system` (or `developer`) message replaces the card's system sentence
//!   (`以下は、タスクを説明する…`); the rest of the prompt is the card's;
//! - then exactly one `user` message: its content is the 指示, exactly as the window's form
//!   sends it (not trimmed; refused when only whitespace, like the form);
//! - the request's `input` extension field is the 入力 (left out when empty, like the form);
//! - anything else — `assistant` or `tool` messages, a second `user` message, a `system`
//!   message later on — is a 400: the card's format has one turn, and rendering earlier turns
//!   into it would be a prompt the model was not trained on.
//!
//! The prompt is built by the engine's own [`PromptTemplate`], so one user message gives the
//! very prompt the window and `jslm generate` give.

use crate::error::ApiError;
use crate::request::Message;
use jslm_engine::prompt::SYSTEM_MESSAGE;
use jslm_engine::PromptTemplate;

/// The card's prompt for `messages` and `input`.
pub fn render(messages: &[Message], input: Option<&str>) -> Result<String, ApiError> {
    let content = |i: usize| -> Result<&str, ApiError> {
        messages[i]
            .content
            .as_ref()
            .map(|c| c.0.as_str())
            .ok_or_else(|| ApiError::invalid(format!("messages[{i}].content"), "is required"))
    };
    let is_system = |m: &Message| matches!(m.role.as_str(), "system" | "developer");
    let (system, rest) = match messages.first() {
        Some(first) if is_system(first) => {
            let text = content(0)?;
            if text.trim().is_empty() {
                return Err(ApiError::invalid(
                    "messages[0].content",
                    "must not be empty: leave the system message out to use the model card's",
                ));
            }
            (text, 1)
        }
        _ => (SYSTEM_MESSAGE, 0),
    };
    let Some(user) = messages.len().checked_sub(1).filter(|&last| last >= rest) else {
        return Err(ApiError::invalid(
            "messages",
            "must end with one `user` message (the 指示)",
        ));
    };
    let role_error = |i: usize, why: &str| {
        ApiError::invalid(
            format!("messages[{i}].role"),
            format!("{why}. Given: {:?}", messages[i].role),
        )
    };
    match messages[user].role.as_str() {
        "user" => {}
        "system" | "developer" => return Err(role_error(user, "may only be the first message")),
        _ => {
            return Err(role_error(
                user,
                "must be `user`: the last message is the 指示 the model answers",
            ))
        }
    }
    if let Some(i) = (rest..user).next() {
        let why = match messages[i].role.as_str() {
            "user" | "assistant" | "tool" | "function" => {
                "this model's prompt (the model card's 指示/入力/応答) has one turn: send one \
                 `user` message, after an optional `system` message; earlier turns cannot be \
                 rendered without changing the card's format"
            }
            "system" | "developer" => "may only be the first message",
            _ => "must be `system`, `developer` or `user`",
        };
        return Err(role_error(i, why));
    }
    let instruction = content(user)?;
    if instruction.trim().is_empty() {
        return Err(ApiError::invalid(
            format!("messages[{user}].content"),
            "must not be empty: write what the model should do (指示を入力してください)",
        ));
    }
    Ok(PromptTemplate.build_with_system(system, instruction, input.unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Content;

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: Some(Content(content.into())),
        }
    }

    #[test]
    fn one_user_message_is_the_forms_prompt() {
        let cases = [
            ("日本の首都は？", None),
            ("次の文を英語に。", Some("猫が好き")),
            ("  前後の空白も指示のうち \n", Some("")),
        ];
        for (instruction, input) in cases {
            let prompt = render(&[msg("user", instruction)], input).unwrap();
            assert_eq!(
                prompt,
                PromptTemplate.build(instruction, input.unwrap_or("")),
                "{instruction:?}"
            );
        }
    }

    #[test]
    fn a_system_message_replaces_the_system_sentence() {
        let prompt = render(
            &[
                msg("system", "あなたは俳人です。"),
                msg("user", "春の句を。"),
            ],
            Some("桜"),
        )
        .unwrap();
        assert_eq!(
            prompt,
            "あなたは俳人です。\n\n### 指示: \n春の句を。\n\n### 入力: \n桜\n\n### 応答: \n"
        );
        let developer = render(&[msg("developer", "S"), msg("user", "U")], None).unwrap();
        assert!(developer.starts_with("S\n\n### 指示: \nU"));
    }

    #[test]
    fn what_the_card_cannot_say_is_refused_naming_the_message() {
        let cases: Vec<(Vec<Message>, &str)> = vec![
            (vec![], "messages"),
            (vec![msg("system", "s")], "messages"),
            (
                vec![msg("user", "a"), msg("assistant", "b"), msg("user", "c")],
                "messages[0].role",
            ),
            (
                vec![msg("system", "s"), msg("assistant", "b"), msg("user", "c")],
                "messages[1].role",
            ),
            (vec![msg("user", "a"), msg("user", "c")], "messages[0].role"),
            (
                vec![msg("user", "a"), msg("system", "s")],
                "messages[1].role",
            ),
            (vec![msg("narrator", "a")], "messages[0].role"),
            (vec![msg("user", " \n")], "messages[0].content"),
            (
                vec![msg("system", ""), msg("user", "x")],
                "messages[0].content",
            ),
            (
                vec![Message {
                    role: "user".into(),
                    content: None,
                }],
                "messages[0].content",
            ),
        ];
        for (messages, param) in cases {
            let e = render(&messages, None).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(
                e.param.as_deref(),
                Some(param),
                "{messages:?}: {}",
                e.message
            );
        }
        let e = render(
            &[msg("user", "a"), msg("assistant", "b"), msg("user", "c")],
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("one turn"), "{}", e.message);
    }
}
