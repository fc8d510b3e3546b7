//! The `[detect]` table of the configuration: which rules run, and the bounds of their state.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{DetectError, ListOverrides, RuleSet, StateLimits};

/// Which rules run (`[detect]` in the TOML config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Load the built-in rule pack.
    #[serde(default = "default_builtin_rules")]
    pub builtin_rules: bool,
    /// Extra rule files or directories of `.yaml` rule files.
    #[serde(default)]
    pub rule_paths: Vec<PathBuf>,
    /// Groups (actors, pods, terms...) each stateful rule remembers; the least recently seen
    /// are evicted beyond it.
    #[serde(default = "default_max_keys_per_rule")]
    pub max_keys_per_rule: usize,
    /// How late (event time) an event may arrive and still feed stateful rules.
    #[serde(default = "default_lateness_ms")]
    pub lateness_ms: u64,
    /// Lists replacing the rule files' lists of the same name (trusted registries, system
    /// identities, system namespaces...), so rules need no editing.
    #[serde(default)]
    pub lists: ListOverrides,
}

fn default_builtin_rules() -> bool {
    true
}

fn default_max_keys_per_rule() -> usize {
    StateLimits::default().max_keys_per_rule
}

fn default_lateness_ms() -> u64 {
    u64::try_from(StateLimits::default().lateness_micros / 1_000).unwrap_or(0)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            builtin_rules: default_builtin_rules(),
            rule_paths: Vec::new(),
            max_keys_per_rule: default_max_keys_per_rule(),
            lateness_ms: default_lateness_ms(),
            lists: ListOverrides::new(),
        }
    }
}

impl Config {
    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Result<(), DetectError> {
        if self.max_keys_per_rule == 0 {
            return Err(DetectError::InvalidConfig {
                reason: "detect.max_keys_per_rule must be at least 1".to_owned(),
            });
        }
        Ok(())
    }

    /// The bounds of the detection state.
    pub fn limits(&self) -> StateLimits {
        StateLimits {
            max_keys_per_rule: self.max_keys_per_rule,
            lateness_micros: i64::try_from(self.lateness_ms.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
        }
    }

    /// The rules to run: the built-in pack (unless left out) plus `rule_paths`, each of which
    /// must exist, with `lists` applied.
    pub fn load_rules(&self) -> Result<RuleSet, DetectError> {
        if let Some(missing) = self.rule_paths.iter().find(|path| !path.exists()) {
            return Err(DetectError::NoSuchRulesPath {
                path: missing.clone(),
            });
        }
        let paths: Vec<&Path> = self.rule_paths.iter().map(PathBuf::as_path).collect();
        RuleSet::load_all(self.builtin_rules, &paths, &self.lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration file holding a `[detect]` table among others.
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        detect: Config,
    }

    fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str::<File>(text).map(|file| file.detect)
    }

    #[test]
    fn the_documented_example_parses_and_an_empty_table_gives_the_defaults() {
        let example = parse(include_str!("../../deploy/config/kubetrail.toml")).unwrap();
        assert!(example.builtin_rules);
        assert!(example.rule_paths.is_empty());
        assert_eq!(example.max_keys_per_rule, 100_000);
        assert_eq!(example.lateness_ms, 60_000);
        example.validate().unwrap();
        assert_eq!(example.limits(), StateLimits::default());

        let empty = parse("").unwrap();
        assert_eq!(empty, Config::default());
        assert_eq!(parse("[detect]\n").unwrap(), Config::default());
        assert!(empty.builtin_rules);
        assert_eq!(empty.limits(), StateLimits::default());
    }

    #[test]
    fn values_are_read_and_bad_ones_rejected() {
        let config = parse(
            "[detect]\nbuiltin_rules = false\nrule_paths = [\"a.yaml\", \"rules\"]\nmax_keys_per_rule = 10\nlateness_ms = 1500\n[detect.lists]\ntrusted_registries = [\"ghcr.io/me\"]\n",
        )
        .unwrap();
        assert!(!config.builtin_rules);
        assert_eq!(
            config.rule_paths,
            [PathBuf::from("a.yaml"), PathBuf::from("rules")]
        );
        assert_eq!(
            config.limits(),
            StateLimits {
                max_keys_per_rule: 10,
                lateness_micros: 1_500_000,
            }
        );
        assert_eq!(config.lists["trusted_registries"], ["ghcr.io/me"]);

        let huge = Config {
            lateness_ms: u64::MAX,
            ..Config::default()
        };
        assert_eq!(huge.limits().lateness_micros, i64::MAX);

        assert!(parse("[detect]\nno_such_key = 1\n").is_err());
        assert!(parse("[detect]\nmax_keys_per_rule = -1\n").is_err());
        let zero = parse("[detect]\nmax_keys_per_rule = 0\n").unwrap();
        let error = zero.validate().unwrap_err();
        assert!(error.to_string().contains("max_keys_per_rule"), "{error}");
    }

    #[test]
    fn rules_load_from_the_configured_paths() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/stateful.yaml");
        let only_fixture = Config {
            builtin_rules: false,
            rule_paths: vec![fixture.clone()],
            ..Config::default()
        };
        let rules = only_fixture.load_rules().unwrap();
        assert!(!rules.is_empty());
        assert!(rules.rules().all(|rule| rule.id.starts_with("t.")));

        let with_builtin = Config {
            rule_paths: vec![fixture.clone()],
            ..Config::default()
        };
        let all = with_builtin.load_rules().unwrap();
        assert_eq!(all.len(), rules.len() + RuleSet::builtin().unwrap().len());
        assert_eq!(
            Config::default().load_rules().unwrap().len(),
            RuleSet::builtin().unwrap().len()
        );

        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/no_such_rules");
        let error = Config {
            rule_paths: vec![fixture, missing.clone()],
            ..Config::default()
        }
        .load_rules()
        .unwrap_err();
        assert!(matches!(&error, DetectError::NoSuchRulesPath { path } if *path == missing));
        assert_eq!(
            error.to_string(),
            format!("no such rules path: {}", missing.display())
        );

        let unknown_list = Config {
            lists: [("no_such_list".to_owned(), vec!["x".to_owned()])].into(),
            ..Config::default()
        };
        assert!(unknown_list.load_rules().is_err());
    }
}
