//! The plan stage: which articles, which distinct sources to fetch (once per URL and rule
//! set, however many articles cite them), which statement × cite pairs each source judges
//! and against which baseline ([`crate::record::current`]), and which stored versions another
//! extractor made and must be read again. Reads the store's loaded records; writes nothing.

use std::collections::HashMap;

use crate::evidence::Anchor;
use crate::extract::{EXTRACTOR_VERSION, RuleCache, Rules};
use crate::fetch::Conditional;
use crate::ids::{BaselineKey, SourceKey, TextHash, rules_fingerprint, source_key_of};
use crate::snapshot::{self, SourceRecord, Store, StoreError, Version};
use crate::watchlist::{Article, Catalog, CiteNo, Entry, Statement};

use super::RunError;

/// A distinct (URL, rules) source of the run.
pub(super) struct Job {
    pub(super) key: SourceKey,
    pub(super) url: url::Url,
    pub(super) rules: Rules,
    /// `<extractor>:<rules fingerprint>`: what the stored text was made with.
    pub(super) fingerprint: String,
    pub(super) cond: Conditional,
    pub(super) prev_raw: Option<String>,
    pub(super) prev_rules: Option<String>,
    /// Hash of the latest stored text version.
    pub(super) prev_text: Option<TextHash>,
    /// The statement × cite pairs that cite this source, judged where its text is at hand.
    pub(super) tasks: Vec<EvTask>,
    /// Stored versions (the latest, and those baselines refer to) that another extractor made,
    /// to extract again from their raw bodies.
    pub(super) reextract: Vec<StoredVersion>,
    /// The stored versions this job reads (the latest and its baselines') that have a raw
    /// body: a text object found missing or damaged is made again from it.
    pub(super) heal: Vec<StoredVersion>,
    /// The source's `render` and `selector`, for the browser.
    pub(super) render: Option<crate::watchlist::RenderMode>,
    pub(super) selector: Option<String>,
}

/// A stored version to extract again: its text hash, raw body hash and content type.
#[derive(Clone)]
pub(super) struct StoredVersion {
    pub(super) text: TextHash,
    pub(super) raw: String,
    pub(super) content_type: String,
}

/// One statement × cite to anchor or judge against a job's source.
#[derive(Clone)]
pub(super) struct EvTask {
    pub(super) bkey: BaselineKey,
    pub(super) statement: Statement,
    /// The cited source's number.
    pub(super) cite: CiteNo,
    /// The current baseline, unless a new one must be taken.
    pub(super) baseline: Option<(TextHash, Vec<Anchor>)>,
}

/// One URL to fetch, and the jobs (rule sets) that share its body.
pub(super) type UrlGroup = (url::Url, Vec<usize>);

/// What the run will fetch and judge.
pub(super) struct Plan {
    /// Distinct sources, in watchlist order.
    pub(super) jobs: Vec<Job>,
    /// Distinct URLs, each with its jobs.
    pub(super) groups: Vec<UrlGroup>,
}

/// The articles of a run: all, or those `only` names (in watchlist order, each once).
pub(super) fn select_articles<'a>(wl: &'a Catalog, only: &[String]) -> Result<Vec<&'a Entry>, RunError> {
    if only.is_empty() {
        return Ok(wl.articles.iter().collect());
    }
    if let Some(id) = only.iter().find(|id| wl.article(id).is_none()) {
        return Err(RunError::UnknownArticle(id.clone()));
    }
    // Watchlist order, each article once however often it was named.
    Ok(wl.articles.iter().filter(|a| only.contains(&a.id.0)).collect())
}

/// The store's records a run of `articles` reads: their sources' and their baselines, not
/// the whole store (a run costs what it checks).
pub(super) fn load_records(store: &Store, articles: &[&Article]) -> Result<snapshot::Index, StoreError> {
    let sources: Vec<SourceKey> = articles
        .iter()
        .flat_map(|a| a.sources.iter().map(source_key_of))
        .collect();
    store.load(&sources, articles.iter().map(|a| a.id.0.as_str()))
}

/// The articles in groups that share sources (connected through any source they cite),
/// each group sorted by id, groups in order of their first id: on a shared store one worker
/// runs a whole group, so each source is fetched once per run.
pub(super) fn sharing_groups(articles: &[&Entry]) -> Vec<Vec<String>> {
    let mut parent: Vec<usize> = (0..articles.len()).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut first_of: HashMap<u64, usize> = HashMap::new();
    for (i, a) in articles.iter().enumerate() {
        for &u in &a.urls {
            let j = *first_of.entry(u).or_insert(i);
            let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
            parent[ri] = rj;
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
    for (i, a) in articles.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(a.id.0.clone());
    }
    let mut out: Vec<Vec<String>> = groups
        .into_values()
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    out.sort();
    out
}

/// A local run's articles in batches of about `max_sources` sources each (articles that
/// share a source always in one batch, so each source is fetched once per run), in watchlist
/// order; at least one batch, maybe empty. Each batch is loaded, fetched, judged and committed
/// on its own, so a run's memory follows the batch, not the archive.
pub(super) fn local_batches<'a>(
    articles: &[&'a Entry],
    max_sources: usize,
    max_articles: usize,
) -> Vec<Vec<&'a Entry>> {
    let by_id: HashMap<&str, &'a Entry> = articles.iter().map(|a| (a.id.0.as_str(), *a)).collect();
    let mut out: Vec<Vec<&'a Entry>> = vec![Vec::new()];
    let mut count = 0;
    for group in sharing_groups(articles) {
        let members: Vec<&'a Entry> = group
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect();
        let n: usize = members.iter().map(|a| a.urls.len()).sum();
        let len = out.last().map_or(0, Vec::len);
        if len > 0 && (count + n > max_sources || len + members.len() > max_articles) {
            out.push(Vec::new());
            count = 0;
        }
        count += n;
        out.last_mut().expect("one batch at least").extend(members);
    }
    out
}

/// Distinct URLs of `articles`: what the progress of their batch counts.
pub(super) fn distinct_urls(articles: &[&Entry]) -> u64 {
    let urls: std::collections::HashSet<u64> = articles.iter().flat_map(|a| a.urls.iter().copied()).collect();
    urls.len() as u64
}

/// Plans the run of `articles` over the loaded records.
pub(super) fn plan(articles: &[&Article], index: &snapshot::Index) -> Result<Plan, RunError> {
    let (mut jobs, job_of) = distinct_sources(articles, index)?;
    attach_tasks(articles, index, &mut jobs, &job_of);
    for job in &mut jobs {
        if let Some(rec) = index.sources.get(&job.key) {
            job.reextract = to_reextract(job, rec);
            job.heal = to_heal(job, rec);
        }
    }
    let groups = url_groups(&jobs);
    Ok(Plan { jobs, groups })
}

/// Distinct sources, fetched once per URL however many articles cite them.
fn distinct_sources(
    articles: &[&Article],
    index: &snapshot::Index,
) -> Result<(Vec<Job>, HashMap<SourceKey, usize>), RunError> {
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<SourceKey, usize> = HashMap::new();
    // Sources sharing an `ignore` pattern share its compiled form.
    let mut rule_cache = RuleCache::default();
    for a in articles {
        for s in &a.sources {
            let fingerprint = rules_fingerprint(s.selector.as_deref(), &s.ignore);
            let key = SourceKey::new(s.url.as_str(), &fingerprint);
            if job_of.contains_key(&key) {
                continue;
            }
            let rules = rule_cache.compile(s.selector.as_deref(), &s.ignore)?;
            let rec = index.sources.get(&key);
            let latest = rec.and_then(|r| r.versions.last());
            let cond = Conditional {
                etag: latest.and_then(|v| v.etag.clone()),
                last_modified: latest.and_then(|v| v.last_modified.clone()),
            };
            let last = rec.and_then(|r| r.last.as_ref());
            job_of.insert(key.clone(), jobs.len());
            jobs.push(Job {
                key,
                url: s.url.clone(),
                rules,
                fingerprint: format!("{EXTRACTOR_VERSION}:{fingerprint}"),
                cond,
                prev_raw: last.and_then(|l| l.raw.clone()),
                prev_rules: last.map(|l| l.rules.clone()),
                prev_text: latest.map(|v| v.text.clone()),
                tasks: Vec::new(),
                reextract: Vec::new(),
                heal: Vec::new(),
                render: s.render,
                selector: s.selector.clone(),
            });
        }
    }
    Ok((jobs, job_of))
}

/// Gives each job the statement × cite pairs that cite it, with their current baselines.
fn attach_tasks(
    articles: &[&Article],
    index: &snapshot::Index,
    jobs: &mut [Job],
    job_of: &HashMap<SourceKey, usize>,
) {
    for a in articles {
        for st in &a.statements {
            for &cite in &st.cites {
                let Some(src) = a.source(cite) else { continue };
                let key = source_key_of(src);
                let Some(&j) = job_of.get(&key) else {
                    continue;
                };
                let bkey = BaselineKey::new(&st.id, cite);
                let baseline = crate::record::current(index.baselines.get(&bkey), &key, st);
                jobs[j].tasks.push(EvTask {
                    bkey,
                    statement: st.clone(),
                    cite,
                    baseline,
                });
            }
        }
    }
}

/// The versions a job reads (its latest and its baselines'), with their raw bodies.
fn to_heal(job: &Job, rec: &SourceRecord) -> Vec<StoredVersion> {
    rec.versions
        .iter()
        .filter(|v| {
            job.prev_text.as_ref() == Some(&v.text)
                || job
                    .tasks
                    .iter()
                    .any(|t| t.baseline.as_ref().is_some_and(|(b, _)| *b == v.text))
        })
        .filter_map(|v| {
            Some(StoredVersion {
                text: v.text.clone(),
                raw: v.raw.clone()?,
                content_type: v.content_type.clone(),
            })
        })
        .collect()
}

/// After an extractor upgrade, the latest text and the baselines' texts are made again from
/// their raw bodies, so that a run compares texts of one extractor: the upgrade itself is not
/// a change of the sources.
fn to_reextract(job: &Job, rec: &SourceRecord) -> Vec<StoredVersion> {
    let wanted = |v: &Version| {
        job.prev_text.as_ref() == Some(&v.text)
            || job
                .tasks
                .iter()
                .any(|t| t.baseline.as_ref().is_some_and(|(b, _)| *b == v.text))
    };
    rec.versions
        .iter()
        .filter(|v| v.extractor() != EXTRACTOR_VERSION && wanted(v))
        .filter_map(|v| {
            if v.raw.is_none() {
                tracing::warn!(
                    url = %job.url,
                    "version {} was made by extractor {} and has no raw body to read again",
                    v.text,
                    v.extractor()
                );
            }
            Some(StoredVersion {
                text: v.text.clone(),
                raw: v.raw.clone()?,
                content_type: v.content_type.clone(),
            })
        })
        .collect()
}

/// Each distinct URL once (however many rule sets watch it), with its jobs.
fn url_groups(jobs: &[Job]) -> Vec<UrlGroup> {
    let mut groups: Vec<UrlGroup> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        let g = *group_of.entry(j.url.to_string()).or_insert_with(|| {
            groups.push((j.url.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Located;
    use crate::watchlist::{CiteNo, Watchlist};

    /// Two articles: `a` cites one page twice (whole, and its `main`) and `b` the same page
    /// whole, plus a page of its own.
    fn watchlist() -> Watchlist {
        let d = tempfile::tempdir().unwrap();
        let src = |cite: u32, url: &str, selector: &str| {
            format!("[[source]]\ncite = {cite}\nurl = \"{url}\"\n{selector}")
        };
        let a = format!(
            "title = \"A\"\narticle = \"\"\"\nTroops numbered 600 [1]. The main part said so [2].\n\"\"\"\n{}\n{}",
            src(1, "http://one.test/p", ""),
            src(2, "http://one.test/p", "selector = \"main\"\n")
        );
        let b = format!(
            "title = \"B\"\narticle = \"\"\"\nTroops numbered 600 [1]. Another page agrees [2].\n\"\"\"\n{}\n{}",
            src(1, "http://one.test/p", ""),
            src(2, "http://two.test/q", "")
        );
        std::fs::write(d.path().join("a.toml"), a).unwrap();
        std::fs::write(d.path().join("b.toml"), b).unwrap();
        let (wl, diags) = Watchlist::load_dir(d.path());
        assert!(!diags.iter().any(crate::error::Diagnostic::is_error), "{diags:?}");
        wl
    }

    fn catalog() -> Catalog {
        Catalog {
            articles: watchlist().articles.iter().map(Entry::of).collect(),
        }
    }

    #[test]
    fn articles_sharing_a_source_form_one_group() {
        let wl = catalog();
        let all: Vec<&Entry> = wl.articles.iter().collect();
        // a and b both cite http://one.test/p (whole): one group.
        assert_eq!(sharing_groups(&all), vec![vec!["a".to_owned(), "b".to_owned()]]);
        // Each alone is its own group.
        assert_eq!(sharing_groups(&all[1..]), vec![vec!["b".to_owned()]]);
        assert!(sharing_groups(&[]).is_empty());
    }

    #[test]
    fn articles_are_selected_in_watchlist_order_each_once() {
        let wl = catalog();
        let ids = |only: &[&str]| -> Vec<String> {
            let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
            select_articles(&wl, &only)
                .unwrap()
                .iter()
                .map(|a| a.id.0.clone())
                .collect()
        };
        assert_eq!(ids(&[]), ["a", "b"]);
        assert_eq!(ids(&["b", "a", "b"]), ["a", "b"]);
        assert!(matches!(
            select_articles(&wl, &["zz".into()]),
            Err(RunError::UnknownArticle(id)) if id == "zz"
        ));
    }

    #[test]
    fn each_source_is_one_job_and_each_url_one_fetch() {
        let wl = watchlist();
        let articles: Vec<&Article> = wl.articles.iter().collect();
        let plan = plan(&articles, &snapshot::Index::default()).unwrap();
        let keys: Vec<&str> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(keys[0], "http://one.test/p");
        assert!(keys[1].starts_with("http://one.test/p#rules="), "{keys:?}");
        assert_eq!(keys[2], "http://two.test/q");
        let groups: Vec<(String, Vec<usize>)> = plan
            .groups
            .iter()
            .map(|(u, m)| (u.to_string(), m.clone()))
            .collect();
        assert_eq!(
            groups,
            [
                ("http://one.test/p".to_owned(), vec![0, 1]),
                ("http://two.test/q".to_owned(), vec![2])
            ]
        );
        // The whole page is cited by both articles' first statements; nothing has a baseline.
        assert_eq!(plan.jobs[0].tasks.len(), 2);
        assert!(
            plan.jobs
                .iter()
                .flat_map(|j| &j.tasks)
                .all(|t| t.baseline.is_none())
        );
        assert!(
            plan.jobs
                .iter()
                .all(|j| j.prev_text.is_none() && j.reextract.is_empty())
        );
        assert!(
            plan.jobs[0]
                .fingerprint
                .starts_with(&format!("{EXTRACTOR_VERSION}:"))
        );
    }

    #[test]
    fn stored_baselines_are_planned_and_an_old_extractors_versions_read_again() {
        let wl = watchlist();
        let articles: Vec<&Article> = wl.articles.iter().take(1).collect();
        let a = articles[0];
        let st = &a.statements[0];
        let key = source_key_of(a.source(CiteNo(1)).unwrap());
        let version = |text: &str, extractor: &str| Version {
            text: TextHash(text.into()),
            raw: Some(format!("raw-{text}")),
            first_seen: chrono::Utc::now(),
            last_seen: chrono::Utc::now(),
            status: 200,
            final_url: key.to_string(),
            content_type: "text/html".into(),
            etag: Some("\"e\"".into()),
            last_modified: None,
            extractor: Some(extractor.into()),
            archived: None,
            archive_job: None,
        };
        let mut index = snapshot::Index::default();
        index.sources.insert(
            key.clone(),
            SourceRecord {
                url: key.to_string(),
                versions: vec![
                    version("v1", "x0"),
                    version("v2", "x0"),
                    version("v3", EXTRACTOR_VERSION),
                ],
                last: None,
            },
        );
        let located = Located {
            anchors: vec![],
            missing_quotes: vec![],
            unfound_quotes: vec![],
            candidate: None,
        };
        let b = crate::record::first_seen(
            st,
            CiteNo(1),
            key.clone(),
            TextHash("v1".into()),
            located,
            chrono::Utc::now(),
        );
        index.baselines.insert(BaselineKey::new(&st.id, CiteNo(1)), b);
        let plan = plan(&articles, &index).unwrap();
        let job = &plan.jobs[0];
        assert_eq!(job.prev_text.as_ref().map(TextHash::as_str), Some("v3"));
        assert_eq!(job.cond.etag.as_deref(), Some("\"e\""));
        let task = job.tasks.iter().find(|t| t.statement.id == st.id).unwrap();
        assert_eq!(task.baseline.as_ref().map(|(v, _)| v.as_str()), Some("v1"));
        // v1 (a baseline's) and not v2 (nobody's) nor v3 (this extractor's).
        let again: Vec<(&str, &str)> = job
            .reextract
            .iter()
            .map(|v| (v.text.as_str(), v.raw.as_str()))
            .collect();
        assert_eq!(again, [("v1", "raw-v1")]);
    }
}
