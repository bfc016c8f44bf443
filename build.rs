//! Records the commit Nacre is built from (`nacre --version`, the startup line, the
//! `nacre_build_info` metric): `NACRE_COMMIT` when set (an image built without `.git`), else
//! `git rev-parse`, else "unknown".

fn main() {
    println!("cargo:rerun-if-env-changed=NACRE_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("NACRE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NACRE_COMMIT={commit}");
}
