//! Micro-benchmarks of the hot path's pieces: `cargo bench -p keygate-server --bench hot_path`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keygate_core::crypto::{Pepper, random_base62, sha256};
use keygate_core::token::{Claims, ISSUER, TokenKey, TokenKeys};
use keygate_core::{ApiKey, Catalog, ClientId, LoginTarget, OrgId};
use keygate_server::state::cache::{CredentialCache, VerifiedClaims, VerifiedTokens};
use keygate_store::KeyCredential;

fn claims() -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: ClientId::generate(),
        org_id: OrgId::generate(),
        account_id: None,
        r#gen: 1,
        scope: "balances:read transfers:write".into(),
        iat: 1,
        exp: i64::MAX / 2,
        jti: random_base62(16),
        narrowed: false,
        cnf: None,
    }
}

fn hot_path(c: &mut Criterion) {
    let key = ApiKey::generate("live");
    let text = key.expose().to_owned();
    c.bench_function("key parse + checksum", |b| {
        b.iter(|| ApiKey::parse(black_box(&text)).unwrap())
    });

    let pepper = Pepper::new(&[9; 32]);
    let cache = CredentialCache::default();
    let mut ids = Vec::new();
    for _ in 0..10_000 {
        let k = ApiKey::generate("live");
        let id = ClientId::generate();
        cache.put(KeyCredential {
            client_id: id.clone(),
            org_id: OrgId::generate(),
            secret_hash: pepper.digest(k.expose().as_bytes()),
            generation: 1,
            scope: Arc::new(keygate_core::KeyScope::OrgAdmin),
            rate_limit: None,
            expires_at: None,
            previous_secret: None,
            allowed_networks: None,
            require_dpop: false,
            credits: None,
        });
        ids.push((id, k));
    }
    let (id, k) = &ids[1234];
    c.bench_function("HMAC lookup (cache get + HMAC + ct_eq)", |b| {
        b.iter(|| {
            let cred = cache.key(black_box(id.as_str())).unwrap();
            pepper
                .digest(black_box(k.expose()).as_bytes())
                .ct_eq(&cred.secret_hash)
        })
    });

    let catalog = Catalog::default_catalog();
    let scope = keygate_core::KeyScope::OrgAdmin;
    c.bench_function("scope string", |b| {
        b.iter(|| scope.scope_string(&catalog, black_box(&LoginTarget::Org)))
    });

    let keys = TokenKeys::new(vec![TokenKey::from_seed([7; 32])]).unwrap();
    let cl = claims();
    c.bench_function("token sign", |b| b.iter(|| keys.sign(black_box(&cl))));
    let token = keys.sign(&cl);
    c.bench_function("token verify", |b| {
        b.iter(|| keys.verify(black_box(&token), 2).unwrap())
    });

    let tokens = VerifiedTokens::default();
    let cl = Arc::new(VerifiedClaims::new(cl));
    for _ in 0..1000 {
        let t = keys.sign(&claims());
        // Kept from the second verification on.
        tokens.verified(sha256(t.as_bytes()), &cl);
        tokens.verified(sha256(t.as_bytes()), &cl);
    }
    tokens.verified(sha256(token.as_bytes()), &cl);
    tokens.verified(sha256(token.as_bytes()), &cl);
    c.bench_function("token cache hit (SHA-256 + lookup)", |b| {
        b.iter(|| tokens.get(&sha256(black_box(token.as_bytes()))).unwrap())
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
