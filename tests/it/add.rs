//! `citewatch add`: pages in the shapes of four publishers' layouts served on 127.0.0.1 (inline
//! links; a sources list at the foot; numbered markers with a reference list; ClaimReview
//! JSON-LD), the seed's plain text with a URL list, and the refusals. Each test checks every
//! statement and cite of the written file as the watchlist loader reads it, and that
//! `validate` passes on it. See: issue 15.

use std::path::Path;

use citewatch::watchlist::Watchlist;

use crate::support::workspace::show;
use crate::support::{PageServer, Response, Workspace};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/add");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).expect("fixture")
}

/// The one article under `watchlist/`: (id, title, checked, statements as (text, cites),
/// sources as (cite, url)).
struct Loaded {
    id: String,
    title: String,
    checked: Option<String>,
    statements: Vec<(String, Vec<u32>)>,
    sources: Vec<(u32, String)>,
}

fn load(ws: &Workspace) -> Loaded {
    let files: Vec<_> = std::fs::read_dir(ws.root().join("watchlist"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "exactly one file written: {files:?}");
    assert!(files[0].ends_with(".toml"), "{files:?}");
    let (wl, diags) = Watchlist::load_dir(&ws.root().join("watchlist"));
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let a = &wl.articles[0];
    Loaded {
        id: a.id.0.clone(),
        title: a.title.clone(),
        checked: a.checked.as_ref().map(ToString::to_string),
        statements: a
            .statements
            .iter()
            .map(|s| (s.text.clone(), s.cites.iter().map(|c| c.0).collect()))
            .collect(),
        sources: a.sources.iter().map(|s| (s.cite.0, s.url.to_string())).collect(),
    }
}

fn statements(list: &[(&str, &[u32])]) -> Vec<(String, Vec<u32>)> {
    list.iter().map(|(t, c)| ((*t).to_owned(), c.to_vec())).collect()
}

fn sources(list: &[(u32, &str)]) -> Vec<(u32, String)> {
    list.iter().map(|(n, u)| (*n, (*u).to_owned())).collect()
}

/// Serves `fixture` at `path`, runs `add URL`, asserts exit 0 and that `validate` passes.
fn add_page(ws: &Workspace, fixture_name: &str, path: &str) -> (PageServer, String) {
    let server = PageServer::start();
    server.set(path, Response::html(&fixture(fixture_name)));
    let out = ws.run(&["add", &server.url(path)]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v = ws.run(&["validate"]);
    assert_eq!(v.status.code(), Some(0), "{}", show(&v));
    (server, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn inline_links_like_politifact() {
    let ws = Workspace::new();
    let (_s, stdout) = add_page(
        &ws,
        "inline-links.html",
        "/factchecks/2024/feb/14/jordan-blake/veteran-unemployment-record-low/",
    );
    let a = load(&ws);
    assert_eq!(a.id, "veteran-unemployment-record-low");
    assert_eq!(
        a.title,
        "Did unemployment among veterans hit a record low in 2023?"
    );
    assert_eq!(a.checked.as_deref(), Some("2024-02-14"));
    assert_eq!(
        a.statements,
        statements(&[
            (
                "The Bureau of Labor Statistics reported an annual unemployment rate of 2.8% for veterans in 2023, according to its Employment Situation of Veterans release.",
                &[1]
            ),
            (
                "That is the lowest annual rate in the series, which began in 1994.",
                &[2]
            ),
            (
                "The rate dipped to 2.1% in one month, but the seasonally unadjusted series shows higher readings in the spring.",
                &[3]
            ),
            (
                "“A record in a 30-year series is still a record,” said labor economist Dana Reyes of the Upjohn Institute.",
                &[4]
            ),
            (
                "The figure also excludes veterans not looking for work, a point the Department of Veterans Affairs makes in its own tables.",
                &[5]
            ),
        ])
    );
    // Menus, share buttons, the author's and people's pages, related articles and the footer
    // are not sources; the "Our Sources" entry nobody links inline is kept without a statement.
    assert_eq!(
        a.sources,
        sources(&[
            (1, "https://www.bls.gov/news.release/vet.nr0.htm"),
            (2, "https://www.bls.gov/cps/demographics.htm"),
            (3, "https://data.bls.gov/timeseries/LNU04049526"),
            (4, "https://www.upjohn.example.org/people/dana-reyes"),
            (5, "https://www.va.gov/vetdata/employment.asp"),
            (6, "https://www.dol.gov/agencies/vets/latest-numbers"),
        ])
    );
    assert!(
        stdout.contains("source list entry without a link: Phone interview, Dana Reyes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 statements, 5 cites, 6 sources (1 cited by no statement)"),
        "{stdout}"
    );
}

#[test]
fn sources_list_at_the_foot_like_full_fact() {
    let ws = Workspace::new();
    add_page(&ws, "foot-sources.html", "/economy/social-housing-waiting-list/");
    let a = load(&ws);
    assert_eq!(a.id, "social-housing-waiting-list");
    assert_eq!(
        a.title,
        "Are there really 1.3 million people waiting for social housing?"
    );
    assert_eq!(a.checked.as_deref(), Some("2024-06-03"));
    assert_eq!(
        a.statements,
        statements(&[
            (
                "Figures from the Department for Levelling Up, Housing and Communities show 1,290,000 households on local authority waiting lists in England on 1 April 2023.",
                &[1]
            ),
            (
                "The number of social homes let to new tenants fell to 160,000 in 2022/23, the official lettings statistics show.",
                &[2]
            ),
            (
                "Charities such as Shelter have said the true demand is higher than the list suggests.",
                &[3]
            ),
        ])
    );
    assert_eq!(
        a.sources,
        sources(&[
            (
                1,
                "https://www.gov.uk/government/statistical-data-sets/live-tables-on-rents-lettings-and-tenancies"
            ),
            (
                2,
                "https://www.gov.uk/government/statistics/social-housing-lettings-in-england-april-2022-to-march-2023"
            ),
            (
                3,
                "https://england.shelter.org.uk/media/press_release/waiting_list"
            ),
            (
                4,
                "https://commonslibrary.parliament.uk/research-briefings/sn06291/"
            ),
        ])
    );
}

#[test]
fn numbered_markers_with_a_reference_list() {
    let ws = Workspace::new();
    add_page(&ws, "numbered.html", "/explainers/data-centre-water.html");
    let a = load(&ws);
    assert_eq!(a.id, "data-centre-water");
    assert_eq!(a.title, "How much water does a data centre use?");
    assert_eq!(a.checked.as_deref(), Some("2025-01-20"));
    // Linked markers (`#ref-n`), plain `[n]`, `[4][5]` and a bare `<sup>6</sup>`.
    assert_eq!(
        a.statements,
        statements(&[
            (
                "A typical hyperscale site uses between 1 and 5 million litres a day.",
                &[1]
            ),
            (
                "Google reported that its data centres consumed 24 billion litres of water in 2023, up 17% on 2022.",
                &[2]
            ),
            ("Microsoft's use rose 22% over the same period.", &[3]),
            ("Water use depends heavily on climate and cooling design.", &[4]),
            (
                "Sites in cooler regions can rely on outside air for much of the year.",
                &[4, 5]
            ),
            (
                "Some operators now report water usage effectiveness, the litres used per kilowatt-hour of IT energy.",
                &[6]
            ),
        ])
    );
    assert_eq!(
        a.sources,
        sources(&[
            (
                1,
                "https://uptimeinstitute.com/resources/research-and-reports/water-use-in-data-centers"
            ),
            (
                2,
                "https://sustainability.google/reports/google-2024-environmental-report/"
            ),
            (
                3,
                "https://www.microsoft.com/en-us/corporate-responsibility/sustainability/report"
            ),
            (4, "https://www.nature.com/articles/s41545-021-00101-w"),
            (
                5,
                "https://www.ashrae.org/technical-resources/bookstore/datacom-series"
            ),
            (
                6,
                "https://www.thegreengrid.org/en/resources/library-and-tools/238-WP"
            ),
        ])
    );
}

#[test]
fn claimreview_json_ld_in_an_array_and_graph() {
    let ws = Workspace::new();
    let (server, stdout) = add_page(&ws, "claimreview.html", "/fact-check/lisbon-airport-flood-photo");
    let a = load(&ws);
    assert_eq!(a.id, "lisbon-airport-flood-photo");
    // claimReviewed, and the review's date (not the claim's 2024-11-02, nor the article's).
    assert_eq!(a.title, "A photo shows Lisbon airport flooded in November 2024");
    assert_eq!(a.checked.as_deref(), Some("2024-11-06"));
    assert!(stdout.contains("ClaimReview: found"), "{stdout}");
    assert_eq!(
        a.statements,
        statements(&[
            (
                "A reverse image search finds the same photo in a September 2019 report on a typhoon in Japan.",
                &[1]
            ),
            (
                "Portugal's airport operator ANA said flights at Lisbon ran normally on November 3 and 4.",
                &[2]
            ),
            (
                "The national weather service IPMA issued yellow warnings for rain in Lisbon on November 3, with up to 20 millimetres expected.",
                &[3]
            ),
            (
                "VerifyWire has previously debunked a similar video from Madrid.",
                &[4]
            ),
        ])
    );
    assert_eq!(
        a.sources,
        sources(&[
            (
                1,
                "https://www.reuters.example/world/asia/typhoon-hits-osaka-2019-09-09/"
            ),
            (2, "https://www.ana.pt/en/lis/home"),
            (3, "https://www.ipma.pt/en/media/noticias/"),
            // The publisher's own earlier check, linked in the body, is a source; its
            // "about" and author pages are not.
            (4, &server.url("/fact-check/madrid-flood-video-2023/")),
        ])
    );
}

/// The seed's plain text with the ten URLs listed after it gives the same statements and cites
/// as the hand-made `watchlist/us-military-kosovo` entry.
#[test]
fn seed_text_with_a_url_list() {
    let ws = Workspace::new();
    let (seed_wl, d) = Watchlist::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlist"));
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    let seed = seed_wl.article("us-military-kosovo").expect("seed article");
    // Three list styles: `[n] URL`, `n. URL`, bare URLs numbered in order.
    let mut text = fixture("seed-kosovo.txt");
    text.push_str("\n\nSources\n");
    for s in &seed.sources {
        match s.cite.0 {
            1..=4 => text.push_str(&format!("[{}] {}\n", s.cite, s.url)),
            5..=7 => text.push_str(&format!("{}. {}\n", s.cite, s.url)),
            _ => text.push_str(&format!("{}\n", s.url)),
        }
    }
    let file = ws.write("kosovo.txt", &text);
    let out = ws.run(&["add", file.to_str().unwrap(), "--id", "kosovo"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(ws.run(&["validate"]).status.code(), Some(0));
    let a = load(&ws);
    assert_eq!(a.id, "kosovo");
    assert_eq!(a.title, seed.title);
    assert_eq!(a.checked.as_deref(), Some("2025-11-26"));
    // The hand-made entry adds four `[[statement]]` tables after the prose's fifteen.
    let want: Vec<(String, Vec<u32>)> = seed
        .statements
        .iter()
        .take(15)
        .map(|s| (s.text.clone(), s.cites.iter().map(|c| c.0).collect()))
        .collect();
    assert_eq!(a.statements, want);
    let want_sources: Vec<(u32, String)> = seed
        .sources
        .iter()
        .map(|s| (s.cite.0, s.url.to_string()))
        .collect();
    assert_eq!(a.sources, want_sources);
}

#[test]
fn seed_text_without_urls_imports_nothing() {
    let ws = Workspace::new();
    let file = ws.write("seed.txt", &fixture("seed-kosovo.txt"));
    let out = ws.run(&["add", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing to import") && err.contains("no source URL"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("marker [10]: no URL"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read_dir(ws.root().join("watchlist")).unwrap().count(), 0);
}

#[test]
fn page_without_sources_exits_2() {
    let ws = Workspace::new();
    let server = PageServer::start();
    server.set(
        "/opinion/why-facts-matter",
        Response::html(
            "<html><head><title>Why facts matter</title></head><body><nav><a href=\"https://elsewhere.example/\">Partner</a></nav>\
             <article><h1>Why facts matter</h1><p>Facts matter because people decide with them, and a democracy needs shared facts to argue about.</p>\
             <p>We believe that careful reporting is worth paying for, and we hope you agree with us.</p></article></body></html>",
        ),
    );
    let out = ws.run(&["add", &server.url("/opinion/why-facts-matter")]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to import"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read_dir(ws.root().join("watchlist")).unwrap().count(), 0);
}

#[test]
fn unreachable_url_says_why() {
    let ws = Workspace::new();
    let server = PageServer::start();
    server.set("/gone", Response::status(404));
    let out = ws.run(&["add", &server.url("/gone")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        show(&out)
    );

    let port = crate::support::smtp::free_port();
    let out = ws.run(&["add", &format!("http://127.0.0.1:{port}/nothing-listens")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read"),
        "{}",
        show(&out)
    );
}

#[test]
fn dry_run_writes_nothing_and_an_existing_id_is_refused() {
    let ws = Workspace::new();
    let server = PageServer::start();
    server.set(
        "/fact-check/lisbon-airport-flood-photo",
        Response::html(&fixture("claimreview.html")),
    );
    let url = server.url("/fact-check/lisbon-airport-flood-photo");
    let out = ws.run(&["add", &url, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[[source]]"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read_dir(ws.root().join("watchlist")).unwrap().count(), 0);

    assert_eq!(ws.run(&["add", &url]).status.code(), Some(0));
    let before = std::fs::read(ws.root().join("watchlist/lisbon-airport-flood-photo.toml")).unwrap();
    let out = ws.run(&["add", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        show(&out)
    );
    assert_eq!(
        std::fs::read(ws.root().join("watchlist/lisbon-airport-flood-photo.toml")).unwrap(),
        before
    );

    let out = ws.run(&["add", &url, "--id", "bad/id"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn creates_the_watchlist_folder() {
    let ws = Workspace::new();
    std::fs::remove_dir(ws.root().join("watchlist")).unwrap();
    let server = PageServer::start();
    server.set("/x/data-centre-water", Response::html(&fixture("numbered.html")));
    let out = ws.run(&["add", &server.url("/x/data-centre-water")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(ws.root().join("watchlist/data-centre-water.toml").is_file());
}
