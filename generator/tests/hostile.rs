//! Hostile environment files at the command line: each refused file exits 1 (2 for usage
//! or I/O) naming the file, line and key, never panics, and leaves the rendered tree byte
//! for byte as it was; the README's error example is what `validate` prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubestore_gen::output::read_tree;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubestore-gen"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("kubestore-gen runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The repository's environments plus `extra` (copied under its own name) in `root`.
fn environments_with(root: &Path, extra: &Path) -> PathBuf {
    let envs = root.join("environments");
    let _ = std::fs::remove_dir_all(&envs);
    std::fs::create_dir_all(&envs).unwrap();
    for entry in std::fs::read_dir(manifest().join("../environments")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, envs.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(extra, envs.join(extra.file_name().unwrap())).unwrap();
    envs
}

#[test]
fn every_refused_file_exits_1_names_file_line_and_key_and_leaves_the_tree_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    let first = run(
        dir.path(),
        &[
            "--environments",
            manifest().join("../environments").to_str().unwrap(),
            "render",
            "--all",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let before = read_tree(&out).unwrap();

    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(manifest().join("tests/fixtures/invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_str().unwrap().to_owned();
        let envs = environments_with(dir.path(), &fixture);
        for args in [
            vec!["validate", name.as_str()],
            vec!["render", "--all", "--out", out.to_str().unwrap()],
        ] {
            let mut full = vec!["--environments", envs.to_str().unwrap()];
            full.extend(&args);
            let output = run(dir.path(), &full);
            let text = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{name} {args:?}: {text}");
            assert!(!text.contains("panicked"), "{name}: {text}");
            let file = format!("{name}.yaml:");
            assert!(text.contains(&file), "{name} {args:?}: {text}");
            for line in text.lines() {
                assert!(names_file_line_and_key(line), "{name} {args:?}: {line}");
            }
        }
        assert_eq!(read_tree(&out).unwrap(), before, "{name} changed the tree");
    }
}

/// `error: <file>.yaml:<line>:<column>: <key>: <message>`, or without line and column
/// for a key the file leaves out.
fn names_file_line_and_key(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("error: ") else {
        return false;
    };
    let Some((_, rest)) = rest.split_once(".yaml") else {
        return false;
    };
    // A key the file leaves out has no line: the error names the key to add.
    if let Some(rest) = rest.strip_prefix(": ") {
        return rest
            .split_once(": ")
            .is_some_and(|(key, _)| !key.is_empty() && !key.contains(' '));
    }
    let mut parts = rest.splitn(5, ':');
    parts.next() == Some("")
        && parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
        && parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
        && parts
            .next()
            .and_then(|key| key.strip_prefix(' '))
            .is_some_and(|key| !key.is_empty() && !key.contains(' '))
        && parts.next().is_some()
}

#[test]
fn a_file_too_large_to_be_an_environment_is_refused_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    let mut big = String::from("name: big\nnamespace: big\n");
    let line = "# a comment line repeated until the file is far too large for an environment\n";
    while big.len() < 50 * 1024 * 1024 {
        big.push_str(line);
    }
    std::fs::write(envs.join("big.yaml"), big).unwrap();
    let output = run(
        dir.path(),
        &["--environments", envs.to_str().unwrap(), "validate", "big"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).ends_with(
            "big.yaml: the file is larger than 1024 KiB, the limit for an environment file\n"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn explain_reads_only_environments_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::copy(
        manifest().join("../environments/dev.yaml"),
        dir.path().join("outside.yaml"),
    )
    .unwrap();
    std::fs::copy(
        manifest().join("../environments/dev.yaml"),
        envs.join("dev.yaml"),
    )
    .unwrap();
    let output = run(
        dir.path(),
        &[
            "--environments",
            envs.to_str().unwrap(),
            "explain",
            "../outside",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no environment `../outside`"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
    let output = run(
        dir.path(),
        &["--environments", envs.to_str().unwrap(), "explain", "dev"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn environments_sharing_a_namespace_fail_validate_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let conflicts = manifest().join("tests/fixtures/conflicts");
    let out = dir.path().join("gitops");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("kept.yaml"), "kept: true\n").unwrap();
    let before = read_tree(&out).unwrap();
    for args in [
        vec!["validate", "dev"],
        vec!["render", "--all", "--out", out.to_str().unwrap()],
    ] {
        let mut full = vec!["--environments", conflicts.to_str().unwrap()];
        full.extend(&args);
        let output = run(dir.path(), &full);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("dev.yaml:4:1: namespace: `kubestore-prod` is also the namespace of ")
                && text.contains("prod.yaml:3:1 on the same cluster"),
            "{text}"
        );
    }
    assert_eq!(read_tree(&out).unwrap(), before);
}

#[test]
fn the_readme_error_example_is_what_validate_prints() {
    let readme = std::fs::read_to_string(manifest().join("../README.md")).unwrap();
    let (_, example) = readme
        .split_once("$ kubestore-gen validate broken\n")
        .expect("the README shows `kubestore-gen validate broken`");
    let (expected, _) = example.split_once("```").expect("the example's block ends");
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::copy(
        manifest().join("tests/fixtures/readme/broken.yaml"),
        envs.join("broken.yaml"),
    )
    .unwrap();
    let output = run(dir.path(), &["validate", "broken"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), expected);
    assert_eq!(expected.lines().count(), 3, "all three errors at once");
}

#[test]
fn an_alias_bomb_is_refused_in_words_that_name_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    // Six levels of ten aliases each: a 400-byte file that expands to a million values.
    let mut bomb = String::from("name: bomb\nnamespace: bomb\nx-lol:\n  a: &a [");
    bomb.push_str(&["\"lol\""; 10].join(","));
    bomb.push_str("]\n");
    for (level, previous) in ["b", "c", "d", "e", "f"]
        .iter()
        .zip(["a", "b", "c", "d", "e"])
    {
        let aliases = vec![format!("*{previous}"); 10].join(",");
        bomb.push_str(&format!("  {level}: &{level} [{aliases}]\n"));
    }
    std::fs::write(envs.join("bomb.yaml"), bomb).unwrap();
    let output = run(
        dir.path(),
        &["--environments", envs.to_str().unwrap(), "validate", "bomb"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}:9:13: x-lol.f: the file expands to more than 250000 YAML nodes (aliases \
             included); an environment file is limited to protect the generator from alias \
             bombs\n",
            envs.join("bomb.yaml").display()
        )
    );
}

#[test]
fn validate_all_says_which_environments_are_valid_and_which_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let envs = environments_with(
        dir.path(),
        &manifest().join("tests/fixtures/invalid/bad-namespace.yaml"),
    );
    let output = run(
        dir.path(),
        &[
            "--environments",
            envs.to_str().unwrap(),
            "validate",
            "--all",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let valid: Vec<String> = ["dev", "prod", "staging"]
        .iter()
        .map(|name| format!("{}: valid\n", envs.join(format!("{name}.yaml")).display()))
        .collect();
    assert_eq!(String::from_utf8_lossy(&output.stdout), valid.concat());
    assert!(
        stderr(&output).starts_with(&format!(
            "error: {}:2:1: namespace:",
            envs.join("bad-namespace.yaml").display()
        )),
        "{}",
        stderr(&output)
    );
}
