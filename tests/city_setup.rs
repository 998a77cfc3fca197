//! `hotline setup --directory FILE --catalogue FILE`, the real binary against the real NATS
//! and Postgres: another city's files land in the directory bucket and the dispatch
//! catalogue, running it again changes nothing, and a bad file stops it with the file and the
//! line named and nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hotline_bus::Bus;

const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/seed/examples")
        .join(name)
}

fn setup(env: &hotline_testkit::TestEnv, args: &[&Path]) -> Output {
    setup_with(env, args, &[])
}

fn setup_with(env: &hotline_testkit::TestEnv, args: &[&Path], flags: &[&str]) -> Output {
    let settings = env.settings().expect("settings");
    let mut cmd = Command::new(HOTLINE);
    cmd.arg("setup")
        .args(flags)
        .envs(env.env_vars(&settings))
        .env("RUST_LOG", "warn");
    for (flag, file) in ["--directory", "--catalogue"].iter().zip(args) {
        if !file.as_os_str().is_empty() {
            cmd.arg(flag).arg(file);
        }
    }
    cmd.output().expect("run hotline setup")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file in the temp dir that is removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, content).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn setup_loads_a_city_from_files_once_and_refuses_a_bad_file_whole() {
    let env = hotline_testkit::env().await.expect("test servers");
    let departments = example("othercity-departments.csv");
    let catalogue = example("othercity-catalogue.csv");

    let first = setup(&env, &[&departments, &catalogue]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    assert!(out.contains("29 departments"), "{out}");
    assert!(
        out.contains("community 3, utility 5), stored as revision"),
        "{out}"
    );
    assert!(
        out.contains("21 matters: 21 added, 0 changed, 0 unchanged"),
        "{out}"
    );

    let bus = Bus::connect(&env.nats_url, &env.namespace, "test")
        .await
        .expect("nats");
    let stored = hotline_bus::directory::current(&bus)
        .await
        .expect("read")
        .expect("a directory");
    assert_eq!(stored.source, "othercity-departments.csv");
    assert!(
        stored
            .directory
            .contains(&hotline_domain::DeptCode::parse("LH-WATER").expect("code"))
    );
    let pool = hotline_bus::db::connect(&env.database_url, 2)
        .await
        .expect("postgres");
    let audited: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT changed_by, reason, version FROM dispatch.catalogue_history ORDER BY code",
    )
    .fetch_all(&pool)
    .await
    .expect("history");
    assert_eq!(audited.len(), 21);
    let reason = format!("loaded from {}", catalogue.display());
    assert!(
        audited
            .iter()
            .all(|(by, why, v)| by == "setup" && *why == reason && *v == 1),
        "{audited:?}"
    );

    // The same files again: nothing written.
    let again = setup(&env, &[&departments, &catalogue]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let out = text(&again.stdout);
    assert!(
        out.contains(&format!("unchanged (revision {})", stored.revision)),
        "{out}"
    );
    assert!(out.contains("0 added, 0 changed, 21 unchanged"), "{out}");

    // A directory whose third line names a parent that is not there: refused whole, with the
    // file and the line, before anything is written.
    let bad = TempFile::new(
        "bad-departments.csv",
        "code,name,name_en,level,parent\nLH-A,甲区,,district,\nLH-A-1,乙街道,,street,LH-B\n",
    );
    let refused = setup(&env, &[&bad.0, &catalogue]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains(&format!(
            "directory file {}: line 3: LH-A-1 names parent LH-B",
            bad.0.display()
        )),
        "{err}"
    );

    // A good new directory with a bad catalogue: the directory is not stored either.
    let mut grown = std::fs::read_to_string(&departments).expect("read");
    grown.push_str("LH-LX-QS-SL,石岭社区居民委员会,Shiling Community,community,LH-LX-QS\n");
    let grown = TempFile::new("departments-v2.csv", &grown);
    let mut broken = std::fs::read_to_string(&catalogue).expect("read");
    broken.push_str("09.01.001,供电抢修,公用事业,供电,city,LH-NOWHERE,,help_request,抢修\n");
    let broken = TempFile::new("catalogue-v2.csv", &broken);
    let refused = setup(&env, &[&grown.0, &broken.0]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains(&format!(
            "catalogue file {}: line 23: matter 09.01.001 names department LH-NOWHERE",
            broken.0.display()
        )),
        "{err}"
    );
    assert_eq!(
        hotline_bus::directory::revision(&bus).await.expect("rev"),
        Some(stored.revision),
        "nothing stored"
    );

    // The catalogue alone is checked against the stored directory.
    let alone = setup(&env, &[Path::new(""), &catalogue]);
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    assert!(text(&alone.stdout).contains("21 unchanged"));

    // The demo stores the demo city's directory only where none is stored: Lanhai's stays.
    let demo = setup_with(&env, &[], &["--demo"]);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    let after = hotline_bus::directory::current(&bus)
        .await
        .expect("read")
        .expect("a directory");
    assert_eq!(after.revision, stored.revision);
    assert_eq!(after.source, "othercity-departments.csv");
}
