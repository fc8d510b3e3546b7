//! Every query form against ground truth computed from the same events; pagination,
//! histograms, facets, scope and errors over one shared fixture index.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::common::*;
use event::Event;
use search::{IndexOptions, Parallelism, Scope, SearchIndex, SearchRequest, Searcher};

struct Fixture {
    _dir: tempfile::TempDir,
    events: Vec<Event>,
    /// event id → rule ids the index was given.
    rules: HashMap<String, Vec<String>>,
    searcher: Searcher,
}

/// 20,000 events over about 2.3 days (three day indexes), indexed in four commits.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let events = events(20_000, 7, 0.1);
        let deletes: Vec<&Event> = events
            .iter()
            .filter(|e| e.verb.as_deref() == Some("delete"))
            .collect();
        let bobs: Vec<&Event> = events
            .iter()
            .filter(|e| e.user.as_deref() == Some("bob@example.com"))
            .collect();
        let mut alerts: Vec<_> = deletes.iter().map(|e| alert("test-delete", &[e])).collect();
        alerts.extend(bobs.chunks(2).map(|pair| alert("test-pair", pair)));
        let mut rules: HashMap<String, Vec<String>> = HashMap::new();
        for alert in &alerts {
            for id in &alert.event_ids {
                rules
                    .entry(id.clone())
                    .or_default()
                    .push(alert.rule_id.clone());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
        for (seq, batch) in events.chunks(5_000).enumerate() {
            index.add(batch, &alerts).unwrap();
            index.commit(seq as u64 + 1).unwrap();
        }
        assert_eq!(index.days().len(), 3, "the fixture spans three days");
        let searcher = index.searcher();
        Fixture {
            _dir: dir,
            events,
            rules,
            searcher,
        }
    })
}

fn truth(pred: impl Fn(&Event) -> bool) -> u64 {
    fixture().events.iter().filter(|e| pred(e)).count() as u64
}

fn is(value: &Option<String>, expected: &str) -> bool {
    value.as_deref() == Some(expected)
}

fn check(query: &str, expected: u64) {
    let got = count(&fixture().searcher, query);
    assert_eq!(got, expected, "query {query:?}");
}

#[test]
fn handles_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Searcher>();
    send::<SearchIndex>();
    send_sync::<search::SearchError>();
}

#[test]
fn everything_is_indexed() {
    let f = fixture();
    assert_eq!(f.searcher.doc_count(), f.events.len() as u64);
    check("", f.events.len() as u64);
    check("*", f.events.len() as u64);
    assert_eq!(f.searcher.committed_seq(), 4);
}

#[test]
fn field_terms_and_boolean_operators() {
    check(
        "user:alice@example.com AND verb:get",
        truth(|e| is(&e.user, "alice@example.com") && is(&e.verb, "get")),
    );
    check(
        "user:alice@example.com verb:get",
        truth(|e| is(&e.user, "alice@example.com") && is(&e.verb, "get")),
    );
    check(
        "verb:delete OR verb:deletecollection",
        truth(|e| is(&e.verb, "delete") || is(&e.verb, "deletecollection")),
    );
    check(
        "verb:(delete OR deletecollection) AND NOT namespace:shop",
        truth(|e| {
            (is(&e.verb, "delete") || is(&e.verb, "deletecollection")) && !is(&e.namespace, "shop")
        }),
    );
    check("NOT verb:get", truth(|e| !is(&e.verb, "get")));
    check(
        "-verb:get -verb:list",
        truth(|e| !is(&e.verb, "get") && !is(&e.verb, "list")),
    );
    check(
        "(verb:create OR verb:update) AND (namespace:monitoring OR namespace:argocd)",
        truth(|e| {
            (is(&e.verb, "create") || is(&e.verb, "update"))
                && (is(&e.namespace, "monitoring") || is(&e.namespace, "argocd"))
        }),
    );
    check(
        "actor_kind:human",
        truth(|e| e.actor_kind.map(|k| k.as_str()) == Some("human")),
    );
    check(
        "decision:forbid",
        truth(|e| e.decision.map(|d| d.as_str()) == Some("forbid")),
    );
    check("source:k8s_audit", fixture().events.len() as u64);
    check("verb:GET", 0);
    check("namespace:*", truth(|e| e.namespace.is_some()));
    check("NOT namespace:*", truth(|e| e.namespace.is_none()));
    check("event_id:*", fixture().events.len() as u64);
    let one = &fixture().events[1234];
    check(&format!("event_id:{}", one.event_id), 1);
}

#[test]
fn values_with_colons() {
    let sa = "system:serviceaccount:kube-system:deployment-controller";
    let expected = truth(|e| is(&e.user, sa));
    assert!(expected > 0);
    check(&format!("user:{sa}"), expected);
    check(&format!("user:\"{sa}\""), expected);
    check(
        "user:system:serviceaccount:kube-system:*",
        truth(|e| {
            e.user
                .as_deref()
                .is_some_and(|u| u.starts_with("system:serviceaccount:kube-system:"))
        }),
    );
    check(
        "groups:system:masters",
        truth(|e| e.user_groups.iter().any(|g| g == "system:masters")),
    );
    check(
        "groups:system:serviceaccounts:*",
        truth(|e| {
            e.user_groups
                .iter()
                .any(|g| g.starts_with("system:serviceaccounts:"))
        }),
    );
}

#[test]
fn wildcards() {
    for pattern in ["kube-*", "*-controller-*", "cert-manager?cainjector*", "*"] {
        check(
            &format!("name:{pattern}"),
            truth(|e| e.name.as_deref().is_some_and(|n| glob(pattern, n))),
        );
    }
    check(
        "user:*@example.com",
        truth(|e| e.user.as_deref().is_some_and(|u| glob("*@example.com", u))),
    );
    // Bare wildcards search the raw tokens.
    for pattern in ["*admin*", "kubec*", "prom?theus"] {
        check(
            pattern,
            truth(|e| raw_words(&e.raw).iter().any(|t| glob(pattern, t))),
        );
    }
}

#[test]
fn phrases_and_free_text() {
    check(
        "\"kube-system\"",
        truth(|e| has_phrase(&e.raw, &["kube", "system"])),
    );
    check(
        "kube-system",
        truth(|e| has_phrase(&e.raw, &["kube", "system"])),
    );
    check(
        "\"ClusterRole system\"",
        truth(|e| has_phrase(&e.raw, &["clusterrole", "system"])),
    );
    // Free-text terms across the frequency range, including ones only request bodies hold.
    let mut df: HashMap<String, u64> = HashMap::new();
    for event in &fixture().events {
        let unique: HashSet<String> = raw_words(&event.raw).into_iter().collect();
        for token in unique {
            *df.entry(token).or_insert(0) += 1;
        }
    }
    let mut by_df: Vec<(&String, &u64)> = df.iter().collect();
    by_df.sort();
    let mut checked = 0;
    for (token, expected) in by_df.iter().step_by(by_df.len() / 40) {
        check(token, **expected);
        check(&format!("raw:{token}"), **expected);
        checked += 1;
    }
    assert!(checked >= 40);
    // Case does not matter in raw text; a body-only word is found.
    let body = fixture()
        .events
        .iter()
        .find(|e| e.raw.contains("\"requestObject\""))
        .expect("an event with a request body");
    let body_json: serde_json::Value = serde_json::from_str(&body.raw).unwrap();
    let request_text = body_json["requestObject"].to_string();
    let word = tokens(&request_text)
        .into_iter()
        .filter(|t| t.len() > 4 && t.chars().all(char::is_alphabetic))
        .min_by_key(|t| df[t])
        .unwrap();
    check(&word.to_uppercase(), df[&word]);
}

#[test]
fn response_code_ranges() {
    let code = |e: &Event| e.response_code.unwrap_or(-1);
    check(
        "code:[400 TO 499]",
        truth(|e| (400..=499).contains(&code(e))),
    );
    check("code:4xx", truth(|e| (400..=499).contains(&code(e))));
    check(
        "code:{200 TO 404}",
        truth(|e| code(e) > 200 && code(e) < 404),
    );
    check("code:>=300", truth(|e| code(e) >= 300));
    check(
        "code:<201",
        truth(|e| e.response_code.is_some() && code(e) < 201),
    );
    check("code:404", truth(|e| code(e) == 404));
    check("response_code:404", truth(|e| code(e) == 404));
    check("code:40?", truth(|e| (400..=409).contains(&code(e))));
}

#[test]
fn ip_addresses() {
    let has = |e: &Event, f: &dyn Fn(IpAddr) -> bool| {
        e.source_ips
            .iter()
            .any(|ip| ip.parse::<IpAddr>().is_ok_and(f))
    };
    check(
        "ip:10.0.0.5",
        truth(|e| e.source_ips.iter().any(|ip| ip == "10.0.0.5")),
    );
    check(
        "ip:10.244.0.0/16",
        truth(|e| {
            has(e, &|ip| match ip {
                IpAddr::V4(v4) => v4.octets()[..2] == [10, 244],
                IpAddr::V6(_) => false,
            })
        }),
    );
    check(
        "ip:10.244.*",
        count(&fixture().searcher, "ip:10.244.0.0/16"),
    );
    check(
        "ip:\"::1\"",
        truth(|e| e.source_ips.iter().any(|ip| ip == "::1")),
    );
    check(
        "ip:::1",
        truth(|e| e.source_ips.iter().any(|ip| ip == "::1")),
    );
    check(
        "ip:[10.0.0.0 TO 10.0.0.10]",
        truth(|e| {
            has(e, &|ip| match ip {
                IpAddr::V4(v4) => v4.octets()[..3] == [10, 0, 0] && v4.octets()[3] <= 10,
                IpAddr::V6(_) => false,
            })
        }),
    );
}

#[test]
fn rules_from_alerts() {
    let f = fixture();
    let with = |rule: &str| {
        f.events
            .iter()
            .filter(|e| {
                f.rules
                    .get(&e.event_id)
                    .is_some_and(|r| r.iter().any(|x| x == rule))
            })
            .count() as u64
    };
    assert!(with("test-pair") > 10);
    check("rule:test-delete", with("test-delete"));
    check("rule:test-pair", with("test-pair"));
    check("rule:test-*", f.rules.len() as u64);
    let response = f
        .searcher
        .search(&SearchRequest {
            limit: 5,
            ..SearchRequest::new("rule:test-pair")
        })
        .unwrap();
    for hit in &response.hits {
        assert_eq!(hit.rule_ids, vec!["test-pair".to_owned()]);
        assert_eq!(hit.user.as_deref(), Some("bob@example.com"));
    }
}

#[test]
fn time_ranges() {
    let f = fixture();
    let start = generate::Options::DEFAULT_START_TIME_MICROS;
    let hour = 3_600_000_000i64;
    for (from, to) in [
        (start + 3 * hour, start + 27 * hour),
        (start, start + 12 * hour),
        (start + 11 * hour + 17, start + 13 * hour - 5),
    ] {
        let response = f
            .searcher
            .search(&SearchRequest {
                from: Some(from),
                to: Some(to),
                limit: 0,
                ..SearchRequest::new("verb:get")
            })
            .unwrap();
        assert_eq!(
            response.total,
            truth(|e| is(&e.verb, "get") && e.time >= from && e.time < to)
        );
        check(
            &format!("verb:get AND time:[{from} TO {to}}}"),
            response.total,
        );
    }
    let from_text = event::format_rfc3339_micros(start + hour);
    check(
        &format!("time:>={from_text}"),
        truth(|e| e.time >= start + hour),
    );
}

#[test]
fn pages_walk_every_hit_once_newest_first() {
    let f = fixture();
    let request = SearchRequest {
        limit: 777,
        ..SearchRequest::new("NOT verb:get")
    };
    let walked = walk(&f.searcher, &request).unwrap();
    assert_eq!(walked.len() as u64, truth(|e| !is(&e.verb, "get")));
    let unique: HashSet<&String> = walked.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), walked.len(), "no hit twice");
    let keys: Vec<(i64, u64)> = walked
        .iter()
        .map(|(time, id)| (*time, search::tie_of(id)))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first"
    );
    let first = f
        .searcher
        .search(&SearchRequest {
            limit: 3,
            ..request.clone()
        })
        .unwrap();
    assert_eq!(first.total, walked.len() as u64);
    let newest = f
        .events
        .iter()
        .filter(|e| !is(&e.verb, "get"))
        .max_by_key(|e| (e.time, search::tie_of(&e.event_id)))
        .unwrap();
    assert_eq!(first.hits[0].event_id, newest.event_id);
    assert_eq!(first.hits[0].time, newest.time);
}

/// The same searches on one thread and split over three (every search split, however
/// small) give the same answers: totals, pages, cursors, histograms and facets.
#[test]
fn split_searches_agree_with_one_thread() {
    let f = fixture();
    let one = f.searcher.with_parallelism(Parallelism {
        threads: 1,
        min_docs: u64::MAX,
    });
    let three = f.searcher.with_parallelism(Parallelism {
        threads: 3,
        min_docs: 0,
    });
    let first = f.events.iter().map(|e| e.time).min().unwrap();
    let last = f.events.iter().map(|e| e.time).max().unwrap();
    let middle = first + (last - first) / 2;
    let mut requests = Vec::new();
    for query in [
        "*",
        "verb:get",
        "NOT verb:get",
        "user:bob@example.com OR verb:delete",
    ] {
        for (from, to) in [
            (None, None),
            (Some(first + 3_600_000_000), Some(middle)),
            (Some(middle), None),
        ] {
            requests.push(SearchRequest {
                from,
                to,
                limit: 25,
                histogram: Some(3_600_000_000),
                facets: vec![
                    "user".into(),
                    "namespace".into(),
                    "code".into(),
                    "ip".into(),
                ],
                ..SearchRequest::new(query)
            });
        }
    }
    requests.push(SearchRequest {
        limit: 10,
        facets: vec!["verb".into()],
        scope: Scope {
            namespaces: Some(vec!["payments".into(), "default".into()]),
            clusters: None,
        },
        ..SearchRequest::new("*")
    });
    for request in &requests {
        let mut a = one.search(request).unwrap();
        let mut b = three.search(request).unwrap();
        (a.took_micros, b.took_micros) = (0, 0);
        assert_eq!(a, b, "{request:?}");
        assert!(a.total > 0, "{request:?} finds something");
        let paged = SearchRequest {
            limit: 333,
            histogram: None,
            facets: Vec::new(),
            ..request.clone()
        };
        assert_eq!(
            walk(&one, &paged).unwrap(),
            walk(&three, &paged).unwrap(),
            "{request:?}"
        );
    }
}

/// Thousands of events in the same microsecond still page out exactly once each, in tie
/// order: the newest-hits buffer cannot cut them by time alone.
#[test]
fn events_in_the_same_microsecond_page_out_once_each() {
    let mut events = events(6_000, 11, 50.0);
    let time = events[0].time;
    for event in &mut events {
        event.time = time;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut index = SearchIndex::open(dir.path(), IndexOptions::default()).unwrap();
    index.add(&events, &[]).unwrap();
    index.commit(1).unwrap();
    for parallelism in [
        Parallelism {
            threads: 1,
            min_docs: u64::MAX,
        },
        Parallelism {
            threads: 2,
            min_docs: 0,
        },
    ] {
        let searcher = index.searcher().with_parallelism(parallelism);
        let walked = walk(
            &searcher,
            &SearchRequest {
                limit: 100,
                ..SearchRequest::new("*")
            },
        )
        .unwrap();
        assert_eq!(walked.len(), events.len());
        let ties: Vec<u64> = walked.iter().map(|(_, id)| search::tie_of(id)).collect();
        assert!(
            ties.windows(2).all(|w| w[0] > w[1]),
            "strictly by tie, newest first"
        );
        let mut expected: Vec<u64> = events.iter().map(|e| search::tie_of(&e.event_id)).collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(ties, expected);
    }
}

#[test]
fn hits_carry_the_stored_fields() {
    let f = fixture();
    let by_id: HashMap<&str, &Event> = f.events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let response = f
        .searcher
        .search(&SearchRequest {
            limit: 300,
            ..SearchRequest::new("ip:* AND code:*")
        })
        .unwrap();
    assert_eq!(response.hits.len(), 300);
    for hit in &response.hits {
        let event = by_id[hit.event_id.as_str()];
        assert_eq!(hit.time, event.time);
        assert_eq!(hit.cluster, event.cluster);
        assert_eq!(hit.source, event.source);
        assert_eq!(hit.verb, event.verb);
        assert_eq!(hit.user, event.user);
        assert_eq!(hit.groups, event.user_groups);
        assert_eq!(hit.impersonated_user, event.impersonated_user);
        assert_eq!(hit.actor_kind, event.actor_kind);
        assert_eq!(hit.source_ips, event.source_ips);
        assert_eq!(hit.user_agent, event.user_agent);
        assert_eq!(hit.resource, event.resource);
        assert_eq!(hit.subresource, event.subresource);
        assert_eq!(hit.api_group, event.api_group);
        assert_eq!(hit.namespace, event.namespace);
        assert_eq!(hit.name, event.name);
        assert_eq!(hit.response_code, event.response_code);
        assert_eq!(hit.decision, event.decision);
        assert_eq!(hit.pod_name, event.pod_name);
    }
}

#[test]
fn histogram_matches_ground_truth() {
    let f = fixture();
    let start = generate::Options::DEFAULT_START_TIME_MICROS;
    let (from, to) = (start - 3_600_000_000, start + 50 * 3_600_000_000);
    let width = search::histogram_width(from, to);
    let response = f
        .searcher
        .search(&SearchRequest {
            from: Some(from),
            to: Some(to),
            histogram: Some(width),
            limit: 0,
            ..SearchRequest::new("verb:create OR verb:update")
        })
        .unwrap();
    let sum: u64 = response.histogram.iter().map(|b| b.count).sum();
    assert_eq!(sum, response.total);
    assert!(
        (50..=70).contains(&response.histogram.len()),
        "{}",
        response.histogram.len()
    );
    let matching: Vec<&Event> = f
        .events
        .iter()
        .filter(|e| {
            (is(&e.verb, "create") || is(&e.verb, "update")) && e.time >= from && e.time < to
        })
        .collect();
    assert_eq!(response.total, matching.len() as u64);
    for bucket in &response.histogram {
        let expected = matching
            .iter()
            .filter(|e| e.time >= bucket.start && e.time < bucket.start + width)
            .count() as u64;
        assert_eq!(bucket.count, expected, "bucket at {}", bucket.start);
    }
    // A width that does not divide a day: buckets straddle midnight, split between two day
    // indexes and summed.
    let width = 7 * 60_000_000 + 13;
    let response = f
        .searcher
        .search(&SearchRequest {
            from: Some(from),
            to: Some(to),
            histogram: Some(width),
            limit: 0,
            ..SearchRequest::new("verb:create OR verb:update")
        })
        .unwrap();
    assert_eq!(
        response.histogram.iter().map(|b| b.count).sum::<u64>(),
        response.total
    );
    for bucket in &response.histogram {
        let expected = matching
            .iter()
            .filter(|e| e.time >= bucket.start && e.time < bucket.start + width)
            .count() as u64;
        assert_eq!(bucket.count, expected, "bucket at {}", bucket.start);
    }
    // Without a time range the buckets span the indexed events.
    let response = f
        .searcher
        .search(&SearchRequest {
            histogram: Some(3_600_000_000),
            limit: 0,
            ..SearchRequest::new("")
        })
        .unwrap();
    assert_eq!(
        response.histogram.iter().map(|b| b.count).sum::<u64>(),
        f.events.len() as u64
    );
}

fn facet_truth<'a>(
    events: impl Iterator<Item = &'a Event>,
    values: impl Fn(&Event) -> Vec<String>,
) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        for value in values(event) {
            *counts.entry(value).or_insert(0) += 1;
        }
    }
    let mut list: Vec<(String, u64)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

#[test]
fn facets_match_ground_truth() {
    let f = fixture();
    let response = f
        .searcher
        .search(&SearchRequest {
            facets: vec![
                "verb".into(),
                "namespace".into(),
                "user".into(),
                "code".into(),
                "ip".into(),
                "groups".into(),
            ],
            facet_size: 12,
            limit: 0,
            ..SearchRequest::new("NOT verb:watch")
        })
        .unwrap();
    let events = || f.events.iter().filter(|e| !is(&e.verb, "watch"));
    let opt = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
    let expected: Vec<(&str, Vec<(String, u64)>)> = vec![
        ("verb", facet_truth(events(), |e| opt(&e.verb))),
        ("namespace", facet_truth(events(), |e| opt(&e.namespace))),
        ("user", facet_truth(events(), |e| opt(&e.user))),
        (
            "code",
            facet_truth(events(), |e| {
                e.response_code.iter().map(|c| c.to_string()).collect()
            }),
        ),
        ("ip", facet_truth(events(), |e| e.source_ips.clone())),
        ("groups", facet_truth(events(), |e| e.user_groups.clone())),
    ];
    for (name, mut truth) in expected {
        truth.truncate(12);
        let got: Vec<(String, u64)> = response.facets[name]
            .iter()
            .map(|v| (v.value.clone(), v.count))
            .collect();
        assert_eq!(got, truth, "facet {name}");
    }
}

#[test]
fn scope_restricts_hits_totals_histograms_and_facets() {
    let f = fixture();
    let allowed = ["shop", "payments"];
    let request = SearchRequest {
        limit: 50,
        histogram: Some(3_600_000_000),
        facets: vec!["namespace".into(), "user".into()],
        facet_size: 100,
        scope: Scope {
            namespaces: Some(allowed.iter().map(|s| s.to_string()).collect()),
            clusters: None,
        },
        ..SearchRequest::new("verb:get OR verb:list OR verb:update")
    };
    let visible = |e: &Event| {
        (is(&e.verb, "get") || is(&e.verb, "list") || is(&e.verb, "update"))
            && e.namespace
                .as_deref()
                .is_some_and(|ns| allowed.contains(&ns))
    };
    let response = f.searcher.search(&request).unwrap();
    assert_eq!(response.total, truth(visible));
    assert!(response.total > 50);
    assert_eq!(
        response.histogram.iter().map(|b| b.count).sum::<u64>(),
        response.total
    );
    for hit in &response.hits {
        assert!(allowed.contains(&hit.namespace.as_deref().unwrap()));
    }
    let namespaces: Vec<&str> = response.facets["namespace"]
        .iter()
        .map(|v| v.value.as_str())
        .collect();
    assert!(
        namespaces.iter().all(|ns| allowed.contains(ns)),
        "{namespaces:?}"
    );
    let mut users = facet_truth(f.events.iter().filter(|e| visible(e)), |e| {
        e.user.iter().cloned().collect()
    });
    users.truncate(100);
    let got: Vec<(String, u64)> = response.facets["user"]
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect();
    assert_eq!(got, users);
    // Every page of the walk stays in scope.
    let walked = walk(
        &f.searcher,
        &SearchRequest {
            limit: 100,
            histogram: None,
            ..request.clone()
        },
    )
    .unwrap();
    assert_eq!(walked.len() as u64, response.total);
    // A query naming another namespace finds nothing in scope.
    let outside = f
        .searcher
        .search(&SearchRequest {
            query: "namespace:monitoring".into(),
            ..request.clone()
        })
        .unwrap();
    assert_eq!(outside.total, 0);
    assert!(outside.hits.is_empty());
    assert!(outside.facets["user"].is_empty());
    // Empty scope lists see nothing; cluster scope applies too.
    let nothing = f
        .searcher
        .search(&SearchRequest {
            scope: Scope {
                namespaces: Some(vec![]),
                clusters: None,
            },
            ..SearchRequest::new("")
        })
        .unwrap();
    assert_eq!(nothing.total, 0);
    let other_cluster = f
        .searcher
        .search(&SearchRequest {
            scope: Scope {
                namespaces: None,
                clusters: Some(vec!["prod".into()]),
            },
            ..SearchRequest::new("")
        })
        .unwrap();
    assert_eq!(other_cluster.total, 0);
}

#[test]
fn bad_requests_are_query_errors() {
    let s = &fixture().searcher;
    let message = query_error(s, &SearchRequest::new("usr:alice"));
    assert!(
        message.contains("unknown field 'usr'") && message.contains("user"),
        "{message}"
    );
    for query in [
        "user:(alice",
        "verb:get AND",
        "\"unterminated",
        "code:abc",
        "ip:10.0.0.300",
        "ip:nonsense*",
        "code:[1 TO",
        "time:yesterday",
        "raw:[a TO b]",
        "---",
        "%%%",
        ")",
    ] {
        let message = query_error(s, &SearchRequest::new(query));
        assert!(!message.is_empty(), "{query}");
    }
    let message = query_error(
        s,
        &SearchRequest {
            facets: vec!["raw".into()],
            ..SearchRequest::new("")
        },
    );
    assert!(message.contains("facet"), "{message}");
    query_error(
        s,
        &SearchRequest {
            cursor: Some("nope".into()),
            ..SearchRequest::new("")
        },
    );
    query_error(
        s,
        &SearchRequest {
            histogram: Some(0),
            ..SearchRequest::new("")
        },
    );
    query_error(
        s,
        &SearchRequest {
            histogram: Some(1),
            ..SearchRequest::new("")
        },
    );
    query_error(
        s,
        &SearchRequest {
            from: Some(10),
            to: Some(10),
            ..SearchRequest::new("")
        },
    );
    assert!(search::validate_query("user:alice").is_ok());
    assert!(
        search::validate_query("user:")
            .unwrap_err()
            .is_bad_request()
    );
}

#[test]
fn matcher_agrees_with_the_index() {
    let f = fixture();
    let start = generate::Options::DEFAULT_START_TIME_MICROS;
    let queries = [
        "user:alice@example.com AND verb:get".to_owned(),
        "verb:(delete OR deletecollection) AND NOT namespace:shop".to_owned(),
        "-verb:get -verb:list".to_owned(),
        "user:system:serviceaccount:kube-system:*".to_owned(),
        "groups:system:masters".to_owned(),
        "name:*-controller-*".to_owned(),
        "namespace:* AND NOT namespace:[kube-a TO kube-z]".to_owned(),
        "\"kube-system\"".to_owned(),
        "kube-system".to_owned(),
        "\"get system\"".to_owned(),
        "\"ClusterRole system\"".to_owned(),
        "*admin*".to_owned(),
        "prom?theus".to_owned(),
        "kube-sys*".to_owned(),
        "requestReceivedTimestamp".to_owned(),
        "mallory OR alice".to_owned(),
        "code:[400 TO 499]".to_owned(),
        "code:4xx OR code:40?".to_owned(),
        "code:>=300".to_owned(),
        "ip:10.244.0.0/16".to_owned(),
        "ip:10.0.*".to_owned(),
        "ip:::1".to_owned(),
        "ip:[10.0.0.0 TO 10.0.0.10]".to_owned(),
        "NOT ip:*".to_owned(),
        format!(
            "time:[{} TO {}}}",
            start + 3_600_000_000,
            start + 30 * 3_600_000_000
        ),
        "actor_kind:human AND decision:allow AND resource:secrets".to_owned(),
    ];
    for query in &queries {
        let matcher = search::Matcher::parse(query).unwrap();
        let expected = count(&f.searcher, query);
        let got = f.events.iter().filter(|e| matcher.matches(e)).count() as u64;
        assert_eq!(got, expected, "query {query:?}");
    }
    for bad in ["usr:x", "ip:nonsense*", "code:abc", "(a", "raw:[a TO b]"] {
        assert!(matches!(
            search::Matcher::parse(bad),
            Err(search::SearchError::Query { .. })
        ));
    }
    let alert = alert("test-delete", &[&f.events[0]]);
    assert!(
        search::Matcher::parse("rule:test-delete")
            .unwrap()
            .matches_alert(&alert)
    );
    assert!(
        !search::Matcher::parse("rule:other")
            .unwrap()
            .matches_alert(&alert)
    );
    assert!(
        search::Matcher::parse("test AND delete")
            .unwrap()
            .matches_alert(&alert)
    );
}

/// A search matching every document keeps the facet counts of whole segments and takes them
/// from there the next time: the answer (facets, total, hits, histogram, cursor) is the one
/// counting each time gives, without a range, with a range that cuts segments, with a
/// scope, and on the next page; and the kept counts are the ground truth.
#[test]
fn kept_facet_summaries_answer_like_counting_each_time() {
    let f = fixture();
    let counting = f.searcher.with_facet_summaries_from(u32::MAX);
    let keeping = f.searcher.with_facet_summaries_from(1);
    let first = f.events.iter().map(|e| e.time).min().unwrap();
    let last = f.events.iter().map(|e| e.time).max().unwrap();
    let whole = SearchRequest {
        facets: ["verb", "namespace", "user", "code", "ip", "groups"]
            .map(String::from)
            .to_vec(),
        facet_size: 100,
        limit: 30,
        histogram: Some(3_600_000_000),
        ..SearchRequest::new("*")
    };
    let ranged = SearchRequest {
        from: Some(first + (last - first) / 3),
        to: Some(last - (last - first) / 4),
        ..whole.clone()
    };
    let scoped = SearchRequest {
        scope: Scope {
            namespaces: Some(vec!["shop".into()]),
            clusters: None,
        },
        ..whole.clone()
    };
    let same = |request: &SearchRequest| {
        let expected = counting.search(request).unwrap();
        for attempt in ["counted and kept", "from the kept counts"] {
            let mut got = keeping.search(request).unwrap();
            got.took_micros = expected.took_micros;
            assert_eq!(got, expected, "{} {attempt}", request.query);
        }
        expected
    };
    let answer = same(&whole);
    assert!(
        keeping.facet_summaries() >= 6 * 4,
        "every segment's six facets are kept: {}",
        keeping.facet_summaries()
    );
    let truth = facet_truth(f.events.iter(), |e| e.user.iter().cloned().collect());
    let got: Vec<(String, u64)> = answer.facets["user"]
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect();
    assert_eq!(got, truth.into_iter().take(100).collect::<Vec<_>>());
    same(&ranged);
    same(&scoped);
    let next = SearchRequest {
        cursor: answer.next_cursor.clone(),
        ..whole.clone()
    };
    assert!(next.cursor.is_some());
    same(&next);
}
