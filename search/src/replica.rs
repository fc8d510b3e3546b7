//! Copies of a search index elsewhere (another writer's index in a shared bucket, copied to
//! this machine): which files a day index's `meta.json` needs, so a copy is made of complete
//! segments only and installs its `meta.json` last.

use crate::SearchError;

/// The files among `names` (one day index directory's) that the index meta `meta` (its
/// `meta.json`) needs: every file of each segment it names, and the delete file of the opstamp
/// it names. `None` when a segment it names has none of its files among `names` (the listing
/// is older than the meta).
pub fn files_needed(meta: &[u8], names: &[String]) -> Result<Option<Vec<String>>, SearchError> {
    let invalid = |reason: String| SearchError::Index(format!("a day index meta.json {reason}"));
    let meta: serde_json::Value = serde_json::from_slice(meta)
        .map_err(|error| invalid(format!("does not parse: {error}")))?;
    let segments = meta
        .get("segments")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid("names no segments".to_owned()))?;
    let mut needed = Vec::new();
    for segment in segments {
        let id = segment
            .get("segment_id")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("has a segment without an id".to_owned()))?
            .replace('-', "");
        let deletes = segment
            .get("deletes")
            .and_then(|deletes| deletes.get("opstamp"))
            .and_then(serde_json::Value::as_u64);
        let prefix = format!("{id}.");
        let mut found = false;
        for name in names {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let wanted = match rest.strip_suffix(".del") {
                Some(opstamp) => deletes.is_some_and(|wanted| opstamp == wanted.to_string()),
                None => !rest.contains('.'),
            };
            if wanted {
                needed.push(name.clone());
                found |= rest == "store";
            }
        }
        let deletes_found =
            deletes.is_none_or(|opstamp| needed.contains(&format!("{id}.{opstamp}.del")));
        if !found || !deletes_found {
            return Ok(None);
        }
    }
    Ok(Some(needed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_meta_needs_its_segments_files_and_its_delete_file() {
        let meta = br#"{"segments":[
            {"segment_id":"076c8829-8ad6-486e-8e37-827a3a3201bc","max_doc":5,"deletes":{"num_deleted_docs":1,"opstamp":7}},
            {"segment_id":"857f74bd-3bbc-4d87-b72e-91645875b50b","max_doc":3,"deletes":null}
        ],"opstamp":9}"#;
        let listed = names(&[
            "076c88298ad6486e8e37827a3a3201bc.store",
            "076c88298ad6486e8e37827a3a3201bc.idx",
            "076c88298ad6486e8e37827a3a3201bc.5.del",
            "076c88298ad6486e8e37827a3a3201bc.7.del",
            "857f74bd3bbc4d87b72e91645875b50b.store",
            "857f74bd3bbc4d87b72e91645875b50b.term",
            "aaaaaaaabbbb4ccc8ddd000000000000.store",
            "meta.json",
        ]);
        assert_eq!(
            files_needed(meta, &listed).unwrap(),
            Some(names(&[
                "076c88298ad6486e8e37827a3a3201bc.store",
                "076c88298ad6486e8e37827a3a3201bc.idx",
                "076c88298ad6486e8e37827a3a3201bc.7.del",
                "857f74bd3bbc4d87b72e91645875b50b.store",
                "857f74bd3bbc4d87b72e91645875b50b.term",
            ]))
        );
        // A listing older than the meta: a segment (or its delete file) is not there yet.
        assert_eq!(files_needed(meta, &listed[..3]).unwrap(), None);
        let without_deletes: Vec<String> = listed
            .iter()
            .filter(|name| !name.ends_with("7.del"))
            .cloned()
            .collect();
        assert_eq!(files_needed(meta, &without_deletes).unwrap(), None);
        assert!(files_needed(b"{}", &listed).is_err());
    }
}
