//! The committed schema tree on disk (see [`tally_schema::check`] for its layout).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tally_schema::check::{Example, Release, SCHEMA_FILE, Tree};
use tally_schema::{SchemaVer, generate, page_view};

/// The `schema` crate's directory in this checkout.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// Reads everything `tally_schema::check::check` looks at.
pub fn load(dir: &Path) -> anyhow::Result<Tree> {
    let committed_schema = match fs::read_to_string(dir.join(SCHEMA_FILE)) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {}", dir.join(SCHEMA_FILE).display()));
        }
    };
    let releases_dir = dir.join("page-view/releases");
    let mut releases = Vec::new();
    for entry in read_dir_sorted(&releases_dir)? {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let version: SchemaVer = name
            .parse()
            .with_context(|| format!("{} is not named for a version", entry.display()))?;
        releases.push(Release {
            version,
            examples: examples(dir, &entry.join("valid"))?,
        });
    }
    Ok(Tree {
        committed_schema,
        valid: examples(dir, &dir.join("page-view/examples/valid"))?,
        invalid: examples(dir, &dir.join("page-view/examples/invalid"))?,
        releases,
    })
}

/// Writes every generated file; returns the ones whose content changed.
pub fn generate(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let path = dir.join(SCHEMA_FILE);
    let text = generate::to_file_text(&generate::page_view_schema());
    if fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(Vec::new());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(vec![path])
}

/// Copies the current valid examples into `releases/<current version>/valid/`.
pub fn freeze(dir: &Path) -> anyhow::Result<(PathBuf, usize)> {
    let target = dir.join(format!("page-view/releases/{}/valid", page_view::VERSION));
    fs::create_dir_all(&target).with_context(|| format!("cannot create {}", target.display()))?;
    let mut n = 0;
    for src in read_dir_sorted(&dir.join("page-view/examples/valid"))? {
        if let Some(name) = src.file_name() {
            fs::copy(&src, target.join(name))
                .with_context(|| format!("cannot copy {}", src.display()))?;
            n += 1;
        }
    }
    Ok((target, n))
}

fn examples(root: &Path, dir: &Path) -> anyhow::Result<Vec<Example>> {
    read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text =
                fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            Ok(Example {
                name,
                value: serde_json::from_str(&text).map_err(|e| e.to_string()),
            })
        })
        .collect()
}

/// The entries of `dir`, sorted; none when it does not exist.
fn read_dir_sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    paths.sort();
    Ok(paths)
}
