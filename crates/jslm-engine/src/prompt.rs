//! The model card's prompt format, byte for byte.
//!
//! Source (model card of stabilityai/japanese-stablelm-instruct-gamma-7b):
//! ```python
//! def build_prompt(user_query, inputs="", sep="\n\n### "):
//!     sys_msg = "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"
//!     p = sys_msg
//!     roles = ["指示", "応答"]
//!     msgs = [": \n" + user_query, ": \n"]
//!     if inputs:
//!         roles.insert(1, "入力")
//!         msgs.insert(1, ": \n" + inputs)
//!     for role, msg in zip(roles, msgs):
//!         p += sep + role + msg
//!     return p
//! ```
//! Note the space before each `\n` after the colon, and that the input section appears only when
//! the input is non-empty (Python truthiness: a string of spaces is non-empty and is kept).

/// The system message of the model card.
pub const SYSTEM_MESSAGE: &str =
    "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。";

const SEPARATOR: &str = "\n\n### ";

/// Builds the instruction prompt exactly as the model card's `build_prompt`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptTemplate;

impl PromptTemplate {
    /// `instruction` is 指示; `input` is 入力, omitted from the prompt when empty.
    pub fn build(&self, instruction: &str, input: &str) -> String {
        self.build_with_system(SYSTEM_MESSAGE, instruction, input)
    }

    /// The card's prompt with `system` in place of its system sentence (the card's
    /// `sys_msg`; everything after it is unchanged). The local server's chat route uses it
    /// for a `system` message.
    pub fn build_with_system(&self, system: &str, instruction: &str, input: &str) -> String {
        let mut prompt = String::with_capacity(system.len() + instruction.len() + input.len() + 64);
        prompt.push_str(system);
        prompt.push_str(SEPARATOR);
        prompt.push_str("指示: \n");
        prompt.push_str(instruction);
        if !input.is_empty() {
            prompt.push_str(SEPARATOR);
            prompt.push_str("入力: \n");
            prompt.push_str(input);
        }
        prompt.push_str(SEPARATOR);
        prompt.push_str("応答: \n");
        prompt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYS: &str = SYSTEM_MESSAGE;

    #[test]
    fn table() {
        let cases: &[(&str, &str, String)] = &[
            (
                "与えられたことわざの意味を小学生でも分かるように教えてください。",
                "情けは人のためならず",
                format!("{SYS}\n\n### 指示: \n与えられたことわざの意味を小学生でも分かるように教えてください。\n\n### 入力: \n情けは人のためならず\n\n### 応答: \n"),
            ),
            (
                "日本の首都は？",
                "",
                format!("{SYS}\n\n### 指示: \n日本の首都は？\n\n### 応答: \n"),
            ),
            (
                "一行目\n二行目\n",
                "a\nb",
                format!("{SYS}\n\n### 指示: \n一行目\n二行目\n\n\n### 入力: \na\nb\n\n### 応答: \n"),
            ),
            (
                "末尾に空白  ",
                "  ",
                format!("{SYS}\n\n### 指示: \n末尾に空白  \n\n### 入力: \n  \n\n### 応答: \n"),
            ),
            (
                "",
                "",
                format!("{SYS}\n\n### 指示: \n\n\n### 応答: \n"),
            ),
        ];
        for (instruction, input, expected) in cases {
            assert_eq!(
                &PromptTemplate.build(instruction, input),
                expected,
                "{instruction:?}"
            );
        }
    }

    #[test]
    fn a_replaced_system_sentence_changes_only_the_first_line() {
        assert_eq!(
            PromptTemplate.build_with_system(SYSTEM_MESSAGE, "問", "文"),
            PromptTemplate.build("問", "文")
        );
        assert_eq!(
            PromptTemplate.build_with_system("あなたは詩人です。", "日本の首都は？", ""),
            "あなたは詩人です。\n\n### 指示: \n日本の首都は？\n\n### 応答: \n"
        );
    }

    #[test]
    fn model_card_example_bytes() {
        let p = PromptTemplate.build("指示", "入力");
        // The exact byte sequence around the role markers: ": " then "\n".
        assert!(p.contains("### 指示: \n指示\n\n### 入力: \n入力\n\n### 応答: \n"));
        assert!(p.ends_with("### 応答: \n"));
        assert!(p.starts_with(SYS));
    }
}
