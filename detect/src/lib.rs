//! kubetrail's detection: the YAML rule language, its compiler, the stateless engine and the
//! built-in rule pack. The engine is pure; only `RuleSet::load` reads files.

mod compile;
mod condition;
mod config;
mod coverage;
mod engine;
mod error;
mod field;
mod lint;
mod networks;
mod objects;
mod rule_tests;
mod state;

use std::path::Path;

pub use compile::RuleInfo;
pub use config::Config;
pub use coverage::{AuditLevel, Coverage, CoverageLine};
pub use engine::Engine;
pub use error::DetectError;
pub use lint::{LintFinding, LintSeverity, lint};
pub use rule_tests::{TestOutcome, run_engine_tests, run_tests};
pub use state::{Detector, Snapshot, StateLimits, StateStats};

use compile::{
    CompiledRule, Document, compile_documents, definitions_of, expanded_lists, parse_document,
};

/// The built-in rule files, embedded in the binary: (file name, text).
const BUILTIN_FILES: &[(&str, &str)] = &[
    ("library.yaml", include_str!("../rules/library.yaml")),
    ("k8s_audit.yaml", include_str!("../rules/k8s_audit.yaml")),
    ("falco.yaml", include_str!("../rules/falco.yaml")),
    (
        "pod_security.yaml",
        include_str!("../rules/pod_security.yaml"),
    ),
    ("workloads.yaml", include_str!("../rules/workloads.yaml")),
    ("rbac.yaml", include_str!("../rules/rbac.yaml")),
    (
        "credentials.yaml",
        include_str!("../rules/credentials.yaml"),
    ),
    ("execution.yaml", include_str!("../rules/execution.yaml")),
    ("discovery.yaml", include_str!("../rules/discovery.yaml")),
    ("exposure.yaml", include_str!("../rules/exposure.yaml")),
    (
        "defense_evasion.yaml",
        include_str!("../rules/defense_evasion.yaml"),
    ),
    (
        "persistence.yaml",
        include_str!("../rules/persistence.yaml"),
    ),
    ("escalation.yaml", include_str!("../rules/escalation.yaml")),
    ("stateful.yaml", include_str!("../rules/stateful.yaml")),
    (
        "correlation.yaml",
        include_str!("../rules/correlation.yaml"),
    ),
];

/// The built-in rule files: (file name, text).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN_FILES
}

/// Compiled rules and their metadata.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// The lists the rules were compiled with, expanded, after `[detect.lists]` overrides.
    lists: std::collections::BTreeMap<String, Vec<String>>,
}

/// A list of the built-in library (`detect/rules/library.yaml`), expanded, without
/// configuration overrides: e.g. `trusted_registries`, `sensitive_host_paths`.
pub fn builtin_list(name: &str) -> Option<Vec<String>> {
    expanded_lists(&builtin_documents().ok()?).remove(name)
}

fn builtin_documents() -> Result<Vec<Document>, DetectError> {
    BUILTIN_FILES
        .iter()
        .map(|(name, text)| parse_document(text, &format!("builtin:{name}")))
        .collect()
}

/// Lists replaced by configuration (`[detect.lists]`): name → items. Applied wherever the
/// list is defined (the built-in library or a rule file), so rules never need editing to
/// change trusted registries, system identities or namespaces.
pub type ListOverrides = std::collections::BTreeMap<String, Vec<String>>;

/// Applies `overrides` to the documents that define those lists.
fn apply_overrides(documents: &mut [Document], overrides: &ListOverrides) {
    for (name, items) in overrides {
        for document in documents.iter_mut() {
            document.override_list(name, items);
        }
    }
}

/// Reads a `.yaml`/`.yml` file, or every such file of a directory (sorted by name).
fn read_documents(path: &Path) -> Result<Vec<Document>, DetectError> {
    let read_error = |path: &Path, error: std::io::Error| DetectError::ReadRules {
        path: path.to_owned(),
        message: error.to_string(),
    };
    let files = if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|error| read_error(path, error))? {
            let entry_path = entry.map_err(|error| read_error(path, error))?.path();
            let is_yaml = entry_path
                .extension()
                .is_some_and(|extension| extension == "yaml" || extension == "yml");
            if is_yaml && entry_path.is_file() {
                files.push(entry_path);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut documents = Vec::with_capacity(files.len());
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|error| read_error(file, error))?;
        documents.push(parse_document(&text, &file.display().to_string())?);
    }
    Ok(documents)
}

/// Compiles documents; the first error wins.
fn compile_all(documents: &[Document], with_library: bool) -> Result<RuleSet, DetectError> {
    compile_all_with(documents.to_vec(), with_library, &ListOverrides::new())
}

fn compile_all_with(
    mut documents: Vec<Document>,
    with_library: bool,
    overrides: &ListOverrides,
) -> Result<RuleSet, DetectError> {
    let mut library_documents = if with_library {
        builtin_documents()?
    } else {
        Vec::new()
    };
    apply_overrides(&mut documents, overrides);
    apply_overrides(&mut library_documents, overrides);
    let library = with_library.then(|| definitions_of(&library_documents));
    let output = compile_documents(&documents, library.as_ref());
    match output.errors.into_iter().next() {
        Some((_, error)) => Err(error),
        None => {
            documents.extend(library_documents);
            Ok(RuleSet {
                rules: output.rules,
                lists: expanded_lists(&documents),
            })
        }
    }
}

impl RuleSet {
    /// The built-in rule pack (`detect/rules/*.yaml`).
    pub fn builtin() -> Result<RuleSet, DetectError> {
        compile_all(&builtin_documents()?, false)
    }

    /// The built-in pack plus the rule files at `paths`, with `overrides` applied to the
    /// lists wherever they are defined.
    pub fn load_all(
        builtin: bool,
        paths: &[&Path],
        overrides: &ListOverrides,
    ) -> Result<RuleSet, DetectError> {
        let mut rules = if builtin {
            compile_all_with(builtin_documents()?, false, overrides)?
        } else {
            RuleSet::default()
        };
        let path_documents = paths
            .iter()
            .map(|path| read_documents(path))
            .collect::<Result<Vec<_>, _>>()?;
        let builtin_documents = builtin_documents()?;
        for name in overrides.keys() {
            let defined = builtin_documents
                .iter()
                .chain(path_documents.iter().flatten())
                .any(|document| document.defines_list(name));
            if !defined {
                return Err(DetectError::CompileDefinition {
                    kind: "list",
                    name: name.clone(),
                    origin: "configuration ([detect.lists])".to_owned(),
                    message: "no rule file defines this list".to_owned(),
                });
            }
        }
        let mut list_documents = builtin_documents;
        list_documents.extend(path_documents.iter().flatten().cloned());
        apply_overrides(&mut list_documents, overrides);
        for documents in path_documents {
            rules.extend(compile_all_with(documents, true, overrides)?)?;
        }
        rules.lists = expanded_lists(&list_documents);
        Ok(rules)
    }

    /// Compiles one rules document. Lists and macros it does not define itself are taken
    /// from the built-in library (e.g. `$trusted_registries`, `created_by_controller`).
    pub fn from_yaml(text: &str, origin: &str) -> Result<RuleSet, DetectError> {
        compile_all(&[parse_document(text, origin)?], true)
    }

    /// Loads a `.yaml`/`.yml` file, or every such file of a directory (sorted by name; they
    /// share their lists and macros).
    pub fn load(path: &Path) -> Result<RuleSet, DetectError> {
        compile_all(&read_documents(path)?, true)
    }

    /// Adds another set's rules; a rule id present in both is an error and nothing is added.
    pub fn extend(&mut self, other: RuleSet) -> Result<(), DetectError> {
        for rule in &other.rules {
            if let Some(existing) = self.rules.iter().find(|mine| mine.info.id == rule.info.id) {
                return Err(DetectError::DuplicateRule {
                    rule_id: rule.info.id.clone(),
                    first: existing.info.origin.clone(),
                    second: rule.info.origin.clone(),
                });
            }
        }
        self.rules.extend(other.rules);
        for (name, items) in other.lists {
            self.lists.entry(name).or_insert(items);
        }
        Ok(())
    }

    /// The rules' metadata, in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.rules.iter().map(|rule| &rule.info)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The lists the rules were compiled with, expanded (after `[detect.lists]` overrides).
    pub fn lists(&self) -> &std::collections::BTreeMap<String, Vec<String>> {
        &self.lists
    }

    pub(crate) fn into_parts(
        self,
    ) -> (
        Vec<CompiledRule>,
        std::collections::BTreeMap<String, Vec<String>>,
    ) {
        (self.rules, self.lists)
    }

    pub(crate) fn compiled(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub(crate) fn from_compiled(rules: Vec<CompiledRule>) -> RuleSet {
        RuleSet {
            rules,
            lists: Default::default(),
        }
    }
}
