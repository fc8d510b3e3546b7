//! What can fail while reading, parsing or compiling rules.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A rules document is not valid YAML or does not have the rule-file shape.
    #[error("failed to parse rules in {origin}: {message}")]
    ParseRule { origin: String, message: String },
    /// A rule is malformed or refers to something that does not exist.
    #[error("failed to compile rule {rule_id} ({origin}): {message}")]
    CompileRule {
        rule_id: String,
        origin: String,
        message: String,
    },
    /// A list or macro definition is malformed or defined twice.
    #[error("failed to compile {kind} {name} ({origin}): {message}")]
    CompileDefinition {
        kind: &'static str,
        name: String,
        origin: String,
        message: String,
    },
    /// Two rules share one id.
    #[error("duplicate rule id {rule_id}: defined in {first} and {second}")]
    DuplicateRule {
        rule_id: String,
        first: String,
        second: String,
    },
    /// A rules file or directory could not be read.
    #[error("failed to read rules from {}: {message}", path.display())]
    ReadRules { path: PathBuf, message: String },
    /// A detection state snapshot does not have the snapshot shape.
    #[error("detection state snapshot is unreadable: {message}")]
    RestoreState { message: String },
    /// The `[detect]` configuration holds a value that makes no sense.
    #[error("invalid detect config: {reason}")]
    InvalidConfig { reason: String },
    /// A configured rules file or directory does not exist.
    #[error("no such rules path: {}", path.display())]
    NoSuchRulesPath { path: PathBuf },
}
