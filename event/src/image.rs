//! Splitting container image references into registry, repository, tag and digest.

use crate::model::ImageRef;

const DEFAULT_REGISTRY: &str = "docker.io";

/// Split an image reference the way container runtimes read it: the digest follows `@`; the
/// first path component is a registry only when it contains `.` or `:` or is `localhost`
/// (otherwise the registry is `docker.io`, and single-component docker.io repositories get the
/// `library/` prefix); the tag follows the last `:` of the last path component. A reference
/// without tag or digest keeps `tag: None` (the runtime would pull `latest`).
pub fn parse_image(reference: &str) -> ImageRef {
    let trimmed = reference.trim();
    if trimmed.is_empty() {
        return ImageRef {
            reference: reference.to_owned(),
            ..ImageRef::default()
        };
    }
    let (name_and_tag, digest) = match trimmed.split_once('@') {
        Some((name_and_tag, digest)) => (name_and_tag, non_empty(digest)),
        None => (trimmed, None),
    };
    let (registry, path) = match name_and_tag.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            let registry = if first == "index.docker.io" {
                DEFAULT_REGISTRY
            } else {
                first
            };
            (registry, rest)
        }
        _ => (DEFAULT_REGISTRY, name_and_tag),
    };
    let last_component = path.rfind('/').map_or(0, |slash| slash + 1);
    let (repository, tag) = match path[last_component..].rfind(':') {
        Some(colon) => {
            let colon = last_component + colon;
            (&path[..colon], non_empty(&path[colon + 1..]))
        }
        None => (path, None),
    };
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    ImageRef {
        reference: reference.to_owned(),
        registry: registry.to_owned(),
        repository,
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_references_like_a_container_runtime() {
        // (reference, registry, repository, tag, digest)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            ("nginx", "docker.io", "library/nginx", None, None),
            (
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            (
                "bitnami/redis:7.2",
                "docker.io",
                "bitnami/redis",
                Some("7.2"),
                None,
            ),
            ("docker.io/nginx", "docker.io", "library/nginx", None, None),
            (
                "index.docker.io/library/nginx:1",
                "docker.io",
                "library/nginx",
                Some("1"),
                None,
            ),
            ("localhost/app", "localhost", "app", None, None),
            (
                "localhost:5000/app:dev",
                "localhost:5000",
                "app",
                Some("dev"),
                None,
            ),
            ("registry:5000/app", "registry:5000", "app", None, None),
            (
                "registry:5000/app:1.2@sha256:ab",
                "registry:5000",
                "app",
                Some("1.2"),
                Some("sha256:ab"),
            ),
            (
                "gcr.io/project/team/app:v3",
                "gcr.io",
                "project/team/app",
                Some("v3"),
                None,
            ),
            (
                "nginx@sha256:0123abcd",
                "docker.io",
                "library/nginx",
                None,
                Some("sha256:0123abcd"),
            ),
            (
                "public.ecr.aws/eks-distro/kubernetes/pause:3.9",
                "public.ecr.aws",
                "eks-distro/kubernetes/pause",
                Some("3.9"),
                None,
            ),
            ("ghcr.io/org/tool:", "ghcr.io", "org/tool", None, None),
        ];
        for (reference, registry, repository, tag, digest) in cases {
            let image = parse_image(reference);
            assert_eq!(image.reference, *reference);
            assert_eq!(image.registry, *registry, "{reference}");
            assert_eq!(image.repository, *repository, "{reference}");
            assert_eq!(image.tag.as_deref(), *tag, "{reference}");
            assert_eq!(image.digest.as_deref(), *digest, "{reference}");
        }
    }

    #[test]
    fn an_empty_reference_has_empty_parts() {
        assert_eq!(parse_image(""), ImageRef::default());
    }
}
