//! The app registry over a real loopback server: accepted when signed by the built-in key for
//! its channel and not older than one already seen; every other registry refused, by reason.

use runtime_spec::{AppRegistry, Channel, PublicKey, RegistryApp};
use updater::registry::{fetch_verified, index_url, RegistrySource};
use updater::Error;

use crate::support::Server;

fn registry(channel: Channel, published_at: u64) -> AppRegistry {
    AppRegistry {
        schema_version: runtime_spec::registry::REGISTRY_SCHEMA_VERSION,
        channel,
        published_at,
        apps: vec![
            RegistryApp {
                id: "corpus-inspector".into(),
                product_name: "Corpus Inspector".into(),
                version: "0.1.0".parse().unwrap(),
                index_url: "corpus-inspector/runtime-beta.json".into(),
                identifier: "dev.corpusinspector.app".into(),
                data_folder: "CorpusInspector".into(),
                env_prefix: "CORPUS_INSPECTOR".into(),
                module: "inspector".into(),
            },
            RegistryApp {
                id: "tokenizer-studio".into(),
                product_name: "Tokenizer Studio".into(),
                version: "0.1.0".parse().unwrap(),
                index_url: "https://mirror.invalid/runtime-beta.json".into(),
                identifier: "dev.tokenizerstudio.app".into(),
                data_folder: "TokenizerStudio".into(),
                env_prefix: "TOKENIZER_STUDIO".into(),
                module: "app".into(),
            },
        ],
    }
}

struct Published {
    dir: tempfile::TempDir,
    server: Server,
    public: PublicKey,
    secret: String,
}

impl Published {
    fn new() -> Published {
        let (public, secret) = release_meta::minisign::generate_keypair(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let server = Server::serving_dir(dir.path());
        Published {
            dir,
            server,
            public: PublicKey::parse(&public).unwrap(),
            secret,
        }
    }

    fn publish(&self, registry: &AppRegistry) {
        release_meta::write_signed_registry(registry, self.dir.path(), &self.secret, None).unwrap();
    }

    fn source(&self, channel: Channel) -> RegistrySource {
        RegistrySource {
            url: self.server.url("/apps-beta.json"),
            public_key: self.public.clone(),
            channel,
        }
    }
}

#[test]
fn a_signed_registry_is_accepted_and_resolves_each_apps_index() {
    let published = Published::new();
    let registry = registry(Channel::Beta, 1_800_000_000);
    published.publish(&registry);
    let source = published.source(Channel::Beta);
    let fetched = fetch_verified(&source, Some(1_700_000_000)).unwrap();
    assert_eq!(fetched, registry);
    assert_eq!(
        index_url(&source.url, fetched.app("corpus-inspector").unwrap()).unwrap(),
        published.server.url("/corpus-inspector/runtime-beta.json")
    );
    assert_eq!(
        index_url(&source.url, fetched.app("tokenizer-studio").unwrap()).unwrap(),
        "https://mirror.invalid/runtime-beta.json"
    );
}

#[test]
fn a_registry_is_refused_for_its_key_its_bytes_its_channel_and_its_age() {
    let published = Published::new();
    published.publish(&registry(Channel::Beta, 1_800_000_000));
    let source = published.source(Channel::Beta);

    // Older than one already accepted: a replay.
    let error = fetch_verified(&source, Some(1_900_000_000)).unwrap_err();
    assert!(matches!(error, Error::Replay { .. }), "{error}");

    // Another channel's shell.
    let error = fetch_verified(&published.source(Channel::Stable), None).unwrap_err();
    assert!(matches!(error, Error::WrongChannel { .. }), "{error}");

    // Signed by another key.
    let other = Published::new();
    let foreign = RegistrySource {
        public_key: other.public.clone(),
        ..source.clone()
    };
    let error = fetch_verified(&foreign, None).unwrap_err();
    assert!(matches!(error, Error::WrongKey { .. }), "{error}");

    // One byte changed after signing.
    let path = published.dir.path().join("apps-beta.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Corpus Inspector", "Corpus Inspectox")).unwrap();
    let error = fetch_verified(&source, None).unwrap_err();
    assert!(matches!(error, Error::BadSignature { .. }), "{error}");

    // A registry signed for the stable channel, served under the beta name: the signed comment
    // names the channel and file, and the file says beta.
    published.publish(&registry(Channel::Beta, 1_800_000_000));
    let stable = registry(Channel::Stable, 1_800_000_000);
    let signature = release_meta::minisign::sign(
        stable.to_json().as_bytes(),
        &published.secret,
        None,
        &stable.trusted_comment(),
    )
    .unwrap();
    std::fs::write(
        published.dir.path().join("apps-beta.json.minisig"),
        signature,
    )
    .unwrap();
    let error = fetch_verified(&source, None).unwrap_err();
    assert!(matches!(error, Error::BadSignature { .. }), "{error}");
}
