//! The compiled-rule cache through the real binary: the second start-up
//! loads the compiled rules from the cache and finds exactly what the
//! first did; a corrupt or truncated cache file is ignored, recompiled and
//! replaced; a changed rule file is recompiled.

use crate::support;

use std::path::PathBuf;
use support::*;

/// Runs `kensa -v scan --format json` and returns (cache status, findings).
fn scan(env: &TestEnv, rules: &std::path::Path) -> (String, Vec<(String, Vec<String>)>) {
    let out = env.run([
        "-v".as_ref(),
        "scan".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--no-progress".as_ref(),
        "--rules".as_ref(),
        rules.as_os_str(),
        env.root.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = ["cache=hit", "cache=miss", "cache=replaced"]
        .iter()
        .find(|s| stderr.contains(*s))
        .unwrap_or_else(|| panic!("no cache status logged: {stderr}"))
        .to_string();
    let recs = parse_lines(&out);
    let mut found: Vec<(String, Vec<String>)> = of_type(&recs, "finding")
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), rules_of(f)))
        .collect();
    found.sort();
    (status, found)
}

fn cache_files(env: &TestEnv) -> Vec<PathBuf> {
    std::fs::read_dir(env.state.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect()
}

#[test]
fn cache_is_hit_and_gives_the_same_results() {
    let env = TestEnv::new();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.yar"),
        "rule cache_one { strings: $a = \"CACHE-ONE\" condition: $a }\n\
         rule cache_two { strings: $a = \"CACHE-TWO\" condition: $a and filename != \"\" }\n",
    )
    .unwrap();
    env.file("one.bin", b"..CACHE-ONE..");
    env.file("two.bin", b"..CACHE-TWO..");
    env.file("clean.bin", b"nothing");

    let (s1, f1) = scan(&env, &rules);
    assert_eq!(s1, "cache=miss");
    assert_eq!(f1.len(), 2, "{f1:?}");
    let (s2, f2) = scan(&env, &rules);
    assert_eq!(s2, "cache=hit");
    assert_eq!(f1, f2);

    // Corrupt: flip a byte in the middle of the serialised rules.
    let files = cache_files(&env);
    assert_eq!(files.len(), 1);
    let good = std::fs::read(&files[0]).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&files[0], &bad).unwrap();
    let (s3, f3) = scan(&env, &rules);
    assert!(s3.starts_with("cache=replaced"), "{s3}");
    assert_eq!(f3, f1);
    assert_eq!(std::fs::read(&files[0]).unwrap().len(), good.len());

    // Truncated, then garbage: both recompiled, never trusted.
    std::fs::write(&files[0], &good[..good.len() - 100]).unwrap();
    let (s4, f4) = scan(&env, &rules);
    assert!(s4.starts_with("cache=replaced"), "{s4}");
    assert_eq!(f4, f1);
    std::fs::write(&files[0], b"garbage").unwrap();
    let (s5, f5) = scan(&env, &rules);
    assert!(s5.starts_with("cache=replaced"), "{s5}");
    assert_eq!(f5, f1);
    let (s6, _) = scan(&env, &rules);
    assert_eq!(s6, "cache=hit");

    // A changed rule file is a miss and its new rules apply.
    std::fs::write(
        rules.join("a.yar"),
        "rule cache_three { strings: $a = \"nothing\" condition: $a }\n",
    )
    .unwrap();
    let (s7, f7) = scan(&env, &rules);
    assert_eq!(s7, "cache=miss");
    assert_eq!(f7.len(), 1);
    assert_eq!(f7[0].1, vec!["cache_three".to_string()]);
}

#[test]
fn cached_compile_warnings_are_still_reported() {
    let env = TestEnv::new();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("good.yar"), "rule fine { condition: false }\n").unwrap();
    std::fs::write(rules.join("bad.yar"), "rule broken { condition: nope }\n").unwrap();
    env.file("x.bin", b"x");
    for expected in ["cache=miss", "cache=hit"] {
        let out = env.run([
            "-v".as_ref(),
            "scan".as_ref(),
            "--no-progress".as_ref(),
            "--rules".as_ref(),
            rules.as_os_str(),
            env.root.as_os_str(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            stderr.contains("1 rule file(s) failed to compile"),
            "{expected}: {stderr}"
        );
        assert!(stderr.contains("bad.yar"), "{stderr}");
    }
}
