//! Reading and checking one watchlist file.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{Article, ArticleId, CiteNo, Source, Statement, Watchlist, split, statement_id};
use crate::error::{Diagnostic, line_col};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArticle {
    id: Option<Spanned<String>>,
    title: Spanned<String>,
    checked: Option<toml::Value>,
    schedule: Option<Spanned<String>>,
    article: Option<Spanned<String>>,
    article_file: Option<Spanned<String>>,
    #[serde(default)]
    source: Vec<RawSource>,
    #[serde(default)]
    statement: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    cite: Spanned<u32>,
    url: Spanned<String>,
    selector: Option<Spanned<String>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    text: Spanned<String>,
    cites: Spanned<Vec<u32>>,
    #[serde(default)]
    evidence: Vec<Spanned<String>>,
}

pub(super) fn load_dir(dir: &Path) -> (Watchlist, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut articles = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::error(
                dir,
                None,
                format!("cannot read the watchlist folder: {e}"),
            ));
            return (Watchlist::default(), diags);
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (article, d) = load_file(&file, &text);
                diags.extend(d);
                if let Some(a) = article {
                    articles.push(a);
                }
            }
            Err(e) => diags.push(Diagnostic::error(&file, None, format!("cannot read: {e}"))),
        }
    }
    let mut seen = BTreeSet::new();
    for a in &articles {
        if !seen.insert(a.id.clone()) {
            diags.push(Diagnostic::error(
                &a.file,
                None,
                format!("article id `{}` is used by another file too", a.id),
            ));
        }
    }
    articles.sort_by(|a, b| a.id.cmp(&b.id));
    (Watchlist { articles }, diags)
}

fn line_of(text: &str, span: std::ops::Range<usize>) -> (Option<usize>, Option<usize>) {
    let (l, c) = line_col(text, span.start);
    (Some(l), Some(c))
}

/// Parses and checks one watchlist file. Returns the article when it has no errors.
pub fn load_file(path: &Path, text: &str) -> (Option<Article>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let raw: RawArticle = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => return (None, vec![Diagnostic::from_toml(path, text, &e)]),
    };
    let err = |span: std::ops::Range<usize>, msg: String| {
        let (l, c) = line_of(text, span);
        Diagnostic::error(path, l, msg).with_col(c)
    };
    let id = match &raw.id {
        Some(id) => {
            let v = id.get_ref();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                diags.push(err(
                    id.span(),
                    format!("id `{v}` may only use letters, digits, `-`, `_` and `.`"),
                ));
            }
            v.clone()
        }
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let id = ArticleId(id);

    if let Some(s) = &raw.schedule
        && let Err(e) = crate::schedule::parse_cron(s.get_ref())
    {
        diags.push(err(s.span(), format!("schedule: {e}")));
    }
    let checked = raw.checked.as_ref().map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    });

    // Sources.
    let mut sources: Vec<Source> = Vec::new();
    let mut source_spans = Vec::new();
    for s in &raw.source {
        let cite = CiteNo(*s.cite.get_ref());
        if sources.iter().any(|x| x.cite == cite) {
            diags.push(err(
                s.cite.span(),
                format!("duplicate cite number {cite}: another [[source]] has it"),
            ));
            continue;
        }
        let url = match Url::parse(s.url.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                diags.push(err(
                    s.url.span(),
                    format!("url `{u}`: only http and https are supported"),
                ));
                continue;
            }
            Err(e) => {
                diags.push(err(s.url.span(), format!("bad url `{}`: {e}", s.url.get_ref())));
                continue;
            }
        };
        if let Some(sel) = &s.selector
            && let Err(e) = scraper::Selector::parse(sel.get_ref())
        {
            diags.push(err(
                sel.span(),
                format!("bad CSS selector `{}`: {e}", sel.get_ref()),
            ));
        }
        for re in &s.ignore {
            if let Err(e) = regex::Regex::new(re.get_ref()) {
                let first = e.to_string().lines().last().unwrap_or_default().to_owned();
                diags.push(err(
                    re.span(),
                    format!("bad ignore regex `{}`: {first}", re.get_ref()),
                ));
            }
        }
        source_spans.push((cite, s.cite.span()));
        sources.push(Source {
            cite,
            url,
            selector: s.selector.as_ref().map(|s| s.get_ref().clone()),
            ignore: s.ignore.iter().map(|s| s.get_ref().clone()).collect(),
        });
    }

    // Statements from the prose.
    let mut statements = Vec::new();
    let mut unmarked = 0;
    let (prose, prose_path, prose_offset_line) = match (&raw.article, &raw.article_file) {
        (Some(_), Some(f)) => {
            diags.push(err(
                f.span(),
                "give either `article` or `article_file`, not both".into(),
            ));
            (None, path.to_path_buf(), 0)
        }
        (Some(a), None) => {
            let (l, _) = line_col(text, a.span().start);
            (Some(a.get_ref().clone()), path.to_path_buf(), l.saturating_sub(1))
        }
        (None, Some(f)) => {
            let p = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
            match std::fs::read_to_string(&p) {
                Ok(t) => (Some(t), p, 0),
                Err(e) => {
                    diags.push(err(f.span(), format!("article_file `{}`: {e}", p.display())));
                    (None, p, 0)
                }
            }
        }
        (None, None) => (None, path.to_path_buf(), 0),
    };
    if let Some(prose) = &prose {
        let units = split::units(prose);
        for u in units {
            if u.cites.is_empty() {
                unmarked += 1;
                continue;
            }
            let line = prose_offset_line + u.line;
            for c in &u.cites {
                if !sources.iter().any(|s| s.cite == *c)
                    && !raw.source.iter().any(|s| *s.cite.get_ref() == c.0)
                {
                    diags.push(Diagnostic::error(
                        &prose_path,
                        Some(line),
                        format!("marker [{c}] has no [[source]] with cite = {c}"),
                    ));
                }
            }
            statements.push(Statement {
                id: statement_id(&id, &u.text),
                text: u.text,
                cites: u.cites,
                quotes: Vec::new(),
                line: Some(line),
            });
        }
    }

    // Explicit statements.
    for s in &raw.statement {
        let stext = s.text.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if stext.is_empty() {
            diags.push(err(s.text.span(), "statement text is empty".into()));
            continue;
        }
        let mut cites: Vec<CiteNo> = s.cites.get_ref().iter().map(|c| CiteNo(*c)).collect();
        cites.sort();
        cites.dedup();
        if cites.is_empty() {
            diags.push(err(s.cites.span(), "a statement needs at least one cite".into()));
        }
        for c in &cites {
            if !raw.source.iter().any(|x| *x.cite.get_ref() == c.0) {
                diags.push(err(
                    s.cites.span(),
                    format!("cite {c} has no [[source]] with cite = {c}"),
                ));
            }
        }
        let mut quotes = Vec::new();
        for q in &s.evidence {
            let norm = q.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
            if norm.is_empty() {
                diags.push(err(q.span(), "evidence quote is empty".into()));
            } else {
                quotes.push(norm);
            }
        }
        let (line, _) = line_col(text, s.text.span().start);
        let sid = statement_id(&id, &stext);
        // A table may restate a prose sentence to add quotes: merge instead of duplicating.
        if let Some(existing) = statements.iter_mut().find(|x: &&mut Statement| x.id == sid) {
            existing.quotes.extend(quotes);
            for c in cites {
                if !existing.cites.contains(&c) {
                    existing.cites.push(c);
                }
            }
            continue;
        }
        statements.push(Statement {
            id: sid,
            text: stext,
            cites,
            quotes,
            line: Some(line),
        });
    }

    // Duplicate ids within the article (the same sentence twice): suffix them.
    let mut seen = BTreeSet::new();
    for st in &mut statements {
        let mut n = 1;
        let base = st.id.0.clone();
        while !seen.insert(st.id.clone()) {
            n += 1;
            st.id.0 = format!("{base}-{n}");
        }
    }

    for (cite, span) in &source_spans {
        if !statements.iter().any(|s| s.cites.contains(cite)) {
            let (l, c) = line_of(text, span.clone());
            diags.push(
                Diagnostic::warning(path, l, format!("source [{cite}] is not cited by any statement"))
                    .with_col(c),
            );
        }
    }

    let ok = !diags.iter().any(Diagnostic::is_error);
    let article = Article {
        id,
        title: raw
            .title
            .get_ref()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        checked,
        schedule: raw.schedule.map(|s| s.into_inner()),
        file: path.to_path_buf(),
        statements,
        sources,
        unmarked_sentences: unmarked,
    };
    (ok.then_some(article), diags)
}
