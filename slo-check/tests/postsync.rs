//! The rendered PostSync Job runs as written: its arguments, against its ConfigMap
//! mounted the way the kubelet mounts it (each file also under `..data` and a timestamped
//! folder), are accepted by slo-check, and the verdict line lands in the termination log.

mod support;

use support::*;

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn the_rendered_job_runs_against_its_configmap() {
    let job = yaml("gitops/base/slo-check-job.yaml");
    let config_map = yaml("gitops/base/slo-check-configmap.yaml");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert_eq!(args[0], "--slos");
    assert_eq!(args[1], mount, "the Job reads the mounted ConfigMap");
    assert_eq!(
        container["terminationMessagePolicy"],
        "FallbackToLogsOnError"
    );
    let rules = job["spec"]["podFailurePolicy"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["action"], "FailJob");
    assert_eq!(
        rules[0]["onExitCodes"]["values"],
        serde_json::json!([1, 2, 4])
    );
    assert_eq!(rules[1]["onExitCodes"]["values"], serde_json::json!([3]));
    let soak = args
        .iter()
        .position(|a| a == "--soak")
        .map(|i| args[i + 1].clone())
        .unwrap();
    let soak_secs: i64 = soak.trim_end_matches('m').parse::<i64>().unwrap() * 60;
    assert!(
        job["spec"]["activeDeadlineSeconds"].as_i64().unwrap() > soak_secs,
        "the deadline is above the soak"
    );

    // The kubelet's layout of a ConfigMap volume.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("slos");
    let stamp = root.join("..2026_12_01_18_00_00.000000001");
    std::fs::create_dir_all(&stamp).unwrap();
    for (key, value) in config_map["data"].as_object().unwrap() {
        std::fs::write(stamp.join(key), value.as_str().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("..data/{key}"), root.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(stamp.file_name().unwrap(), root.join("..data")).unwrap();

    let prom = prometheus(at());
    let log = dir.path().join("termination-log");
    let mut run: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        // The same flags, pointed at this machine and shortened to seconds.
        let value = match args[i].as_str() {
            "--slos" => root.display().to_string(),
            "--prometheus" => prom.url.clone(),
            "--soak" => "2s".into(),
            "--termination-log" => log.display().to_string(),
            other => panic!("the Job passes a flag this test does not know: {other}"),
        };
        run.push(args[i].clone());
        run.push(value);
        i += 2;
    }
    run.extend(["--interval".into(), "1s".into()]);
    let out = slo_check(&run.iter().map(String::as_str).collect::<Vec<_>>());
    // No traffic since the start of the soak: no data, never a pass.
    assert_eq!(code(&out), 4, "{}", text(&out));
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.starts_with("slo-check: no_data (exit 4): 0 met"),
        "{line}"
    );
    assert!(line.len() < 4096);
}
