//! How long a render takes: the prod environment end to end (read, validate, render,
//! lay out, serialize), and a fleet of 100 environments (500 services) in one run.
//! Run with `cargo bench -p kubestore-gen`.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use kubestore_gen::Environments;
use kubestore_gen::pipeline::render_tree;

fn environments_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments")
}

/// A folder of `count` copies of prod, each with its own name, namespace and host.
fn fleet(count: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let prod = std::fs::read_to_string(environments_dir().join("prod.yaml")).expect("prod.yaml");
    let mut names = Vec::new();
    for i in 0..count {
        let name = format!("shop-{i:03}");
        let text = prod
            .replace("name: prod", &format!("name: {name}"))
            .replace("namespace: kubestore-prod", &format!("namespace: {name}"))
            .replace(
                "host: shop.example.com",
                &format!("host: {name}.example.com"),
            );
        std::fs::write(dir.path().join(format!("{name}.yaml")), text).expect("write");
        names.push(name);
    }
    (dir, names)
}

fn benches(c: &mut Criterion) {
    let dir = environments_dir();
    c.bench_function("render prod (load, validate, render, serialize)", |b| {
        b.iter(|| {
            let environments = Environments::read(&dir).expect("environments folder");
            let env = environments.load_one("prod").expect("prod is valid");
            let selected = std::slice::from_ref(&env);
            render_tree(selected, selected, &dir)
        })
    });
    let (fleet_dir, names) = fleet(100);
    c.bench_function("render 100 environments = 500 services", |b| {
        b.iter(|| {
            let environments = Environments::read(fleet_dir.path()).expect("fleet folder");
            let envs = environments.load(&names).expect("valid");
            render_tree(&envs, &envs, fleet_dir.path())
        })
    });
}

criterion_group! {
    name = render;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(render);
