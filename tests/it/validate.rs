//! `citewatch validate` on broken settings and watchlist files: the exit code, and one
//! `FILE:LINE[:COL]: message` line per problem on stderr.

use std::process::{Command, Output};

use crate::support::{Workspace, workspace::show};

/// Two sources and prose citing both: a valid base to break one thing at a time.
const SOURCES: &str = r#"
[[source]]
cite = 1
url = "https://a.example/page"

[[source]]
cite = 2
url = "https://b.example/page"
"#;

fn valid(prose: &str) -> String {
    format!("title = \"Kosovo\"\narticle = \"\"\"\n{prose}\n\"\"\"\n{SOURCES}")
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts the exit code and that stderr is exactly one line per expected problem, each
/// `ROOT/FILE:POS: ` followed by a message containing the given words.
fn assert_problems(ws: &Workspace, out: &Output, code: i32, expected: &[(&str, &str, &str)]) {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), expected.len(), "{}", show(out));
    for (line, (file, pos, words)) in lines.iter().zip(expected) {
        let prefix = format!("{}:{pos}: ", ws.root().join(file).display());
        assert!(line.starts_with(&prefix), "expected {prefix:?}…\n{}", show(out));
        assert!(
            line.contains(words),
            "expected {words:?} in {line:?}\n{}",
            show(out)
        );
    }
}

fn validate(ws: &Workspace) -> Output {
    ws.run(&["validate"])
}

#[test]
fn valid_watchlist_lists_statements() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("About 600 U.S. soldiers serve in KFOR. [1] NATO leads it [2]. It began in 1999."),
    );
    let out = validate(&ws);
    assert_problems(&ws, &out, 0, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("k — Kosovo"), "{}", show(&out));
    assert!(
        stdout.contains("2 statements, 2 sources, 1 sentence without a marker"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[1] About 600 U.S. soldiers serve in KFOR.\n"),
        "{stdout}"
    );
    assert!(stdout.contains("[2] NATO leads it.\n"), "{stdout}");
    // The default schedule, spelled out, with three due times.
    assert!(
        stdout.contains("[schedule].cron `0 0 6 * * *`: at 06:00 UTC, every day"),
        "{stdout}"
    );
    let due = stdout
        .lines()
        .find(|l| l.contains("next due:"))
        .expect("due times");
    assert_eq!(due.matches(" 06:00:00 UTC").count(), 3, "{due}");
}

#[test]
fn toml_syntax_error() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", "title = \"Kosovo\"\narticle = \"unterminated\n");
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[("watchlist/k.toml", "2:24", "invalid basic string")],
    );
}

#[test]
fn unknown_keys_each_with_line_and_column() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].").replace("cite = 2\n", "cite = 2\n  selectr = \"main\"\n")
        + "\n[[statement]]\ntext = \"x\"\ncites = [1]\nquote = [\"y\"]\n";
    let text = text.replacen("title", "titel = \"typo\"\ntitle", 1);
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[
            (
                "watchlist/k.toml",
                "1:1",
                "unknown key `titel` in the article; did you mean `title`?",
            ),
            (
                "watchlist/k.toml",
                "13:3",
                "unknown key `selectr` in [[source]]; did you mean `selector`?",
            ),
            (
                "watchlist/k.toml",
                "19:1",
                "unknown key `quote` in [[statement]]; expected one of",
            ),
        ],
    );
}

#[test]
fn marker_without_source_inline() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("Troops serve [1].\nNATO leads [2]. Camp Bondsteel [3]."),
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "4:32",
            "marker [3] has no [[source]] with cite = 3",
        )],
    );
}

#[test]
fn marker_without_source_in_article_file() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!("title = \"Kosovo\"\narticle_file = \"k.md\"\n{SOURCES}"),
    );
    ws.watchlist(
        "k.md",
        "# Kosovo\n\nTroops serve [1].\n\nNATO leads [2] and [4, 1].\n",
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.md",
            "5:20",
            "marker [4] has no [[source]] with cite = 4",
        )],
    );
}

#[test]
fn duplicate_cite_number() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].") + "\n[[source]]\ncite = 2\nurl = \"https://c.example/\"\n";
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "15:8",
            "duplicate cite number 2: the [[source]] at line 11 has it too",
        )],
    );
}

#[test]
fn uncited_source_is_a_warning() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", &valid("Troops serve [1]."));
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        0,
        &[(
            "watchlist/k.toml",
            "11:8",
            "warning: source [2] is not cited by any statement",
        )],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 errors, 1 warning"));
}

#[test]
fn bad_url() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].")
        .replace("https://a.example/page", "not a url")
        .replace("https://b.example/page", "ftp://b.example/file");
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[
            ("watchlist/k.toml", "8:7", "bad url `not a url`"),
            ("watchlist/k.toml", "12:7", "only http and https are supported"),
        ],
    );
}

#[test]
fn bad_cron_in_article() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("Troops [1] [2].").replacen("title", "schedule = \"0 9 * * 8\"\ntitle", 1),
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "1:12",
            "schedule: `0 9 * * 8`: weekday field `8`: `8` is not a weekday",
        )],
    );
}

#[test]
fn bad_cron_in_settings() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", &valid("Troops [1] [2]."));
    ws.write(
        "citewatch.toml",
        "[schedule]\n# every morning\ncron = \"0 6 * *\"\n",
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "citewatch.toml",
            "3:8",
            "[schedule].cron: `0 6 * *` has 4 fields; expected 5",
        )],
    );
}

#[test]
fn article_cron_is_spelled_out() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("Troops [1] [2].").replacen("title", "schedule = \"30 9 * * 1-5\"\ntitle", 1),
    );
    let out = validate(&ws);
    assert_problems(&ws, &out, 0, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("schedule `30 9 * * 1-5`: at 09:30 UTC, on Mon-Fri"),
        "{stdout}"
    );
    let due = stdout
        .lines()
        .skip_while(|l| !l.contains("schedule `30 9"))
        .nth(1)
        .expect("due line");
    assert_eq!(due.matches("09:30:00 UTC").count(), 3, "{due}");
    assert!(!due.contains("Sat") && !due.contains("Sun"), "{due}");
}

#[test]
fn unknown_settings_key() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", &valid("Troops [1] [2]."));
    ws.write("citewatch.toml", "[fetch]\nconcurrency = 4\n  per_hots = 1\n");
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "citewatch.toml",
            "3:3",
            "unknown key `per_hots` in [fetch]; did you mean `per_host`?",
        )],
    );
}

#[test]
fn bad_regex() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].").replace(
        "url = \"https://b.example/page\"",
        "url = \"https://b.example/page\"\nignore = [\"^ok$\", \"(unclosed\"]",
    );
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "13:19",
            "bad ignore regex `(unclosed`: unclosed group",
        )],
    );
}

#[test]
fn bad_css_selector() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].").replace(
        "url = \"https://a.example/page\"",
        "url = \"https://a.example/page\"\nselector = \"main >> [\"",
    );
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[("watchlist/k.toml", "9:12", "bad CSS selector `main >> [`")],
    );
}

#[test]
fn empty_evidence_quote() {
    let ws = Workspace::new();
    let text = valid("Troops [1] [2].")
        + "\n[[statement]]\ntext = \"About 600 soldiers serve.\"\ncites = [1]\nevidence = [\"about 600 soldiers\", \"  \"]\n";
    ws.watchlist("k.toml", &text);
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[("watchlist/k.toml", "17:35", "evidence quote is empty")],
    );
}

#[test]
fn missing_title() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("Troops [1] [2].").replacen("title = \"Kosovo\"\n", "", 1),
    );
    let out = validate(&ws);
    assert_problems(&ws, &out, 2, &[("watchlist/k.toml", "1:1", "missing `title`")]);
}

#[test]
fn article_file_not_found() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!("title = \"Kosovo\"\narticle_file = \"missing.md\"\n{SOURCES}"),
    );
    let out = validate(&ws);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let lines = stderr_lines(&out);
    let prefix = format!(
        "{}:2:16: article_file `",
        ws.root().join("watchlist/k.toml").display()
    );
    assert!(
        lines[0].starts_with(&prefix) && lines[0].ends_with("missing.md` not found"),
        "{}",
        show(&out)
    );
}

#[test]
fn duplicate_article_id() {
    let ws = Workspace::new();
    ws.watchlist(
        "a.toml",
        &valid("Troops [1] [2].").replacen("title", "id = \"kosovo\"\ntitle", 1),
    );
    ws.watchlist(
        "b.toml",
        &valid("NATO [1] [2].").replacen("title", "\nid = \"kosovo\"\ntitle", 1),
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[("watchlist/b.toml", "2", "article id `kosovo` is already used by")],
    );
}

#[test]
fn problems_in_several_files_are_all_reported() {
    let ws = Workspace::new();
    ws.watchlist("a.toml", &valid("Troops [1] [2] [5]."));
    ws.watchlist("b.toml", "title = \n");
    ws.write("citewatch.toml", "[fetch]\nper_host = 0\n");
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[
            ("citewatch.toml", "2:12", "[fetch].per_host must be at least 1"),
            ("watchlist/a.toml", "3:16", "marker [5]"),
            ("watchlist/b.toml", "1:9", "string values must be quoted"),
        ],
    );
}

/// The repository's own watchlist (the seed fact-check) is valid and lists its statements.
#[test]
fn repository_watchlist_validates() {
    let out = Command::new(env!("CARGO_BIN_EXE_citewatch"))
        .arg("--root")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("validate")
        .env_remove("RUST_LOG")
        .output()
        .expect("run citewatch");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("us-military-kosovo — What is the current US military role in Kosovo?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("19 statements, 10 sources, 3 sentences without a marker"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[6][8] Camp Bondsteel remains the largest U.S. facility in the Balkans"),
        "{stdout}"
    );
    assert!(stdout.contains("evidence: \"more than 600 troops\""), "{stdout}");
}

#[test]
fn empty_watchlist_is_a_warning() {
    let ws = Workspace::new();
    let out = validate(&ws);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let want = format!(
        "{}: warning: no watchlist files (*.toml) here: nothing to check",
        ws.root().join("watchlist").display()
    );
    assert_eq!(stderr_lines(&out), [want]);
}

/// Issue 17: `watchlist/a:b.toml` next to `watchlist/a.toml` made an article `a:b` whose
/// baselines `check --only a` dropped. Ids are names now: `validate` and `check` refuse such a
/// file name (and `..`, bidirectional controls and look-alike letters in `id`) at FILE:LINE.
#[test]
fn article_ids_that_are_not_plain_names_are_refused() {
    let ws = Workspace::new();
    ws.watchlist("a.toml", &valid("Troops [1] [2]."));
    ws.watchlist("a:b.toml", &valid("NATO [1] [2]."));
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/a:b.toml",
            "1",
            "the file name gives the article id `a:b`, which cannot be one: `:` is not allowed",
        )],
    );
    // `check` refuses the same way, before touching the store.
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a:b.toml:1: the file name gives the article id"),
        "{}",
        show(&out)
    );
    assert!(!ws.root().join("snapshots/store.db").exists(), "{}", show(&out));

    std::fs::remove_file(ws.root().join("watchlist/a:b.toml")).unwrap();
    for (id, why) in [
        ("..", "`..` is not allowed"),
        ("kfor\u{202e}lmth", "the bidirectional control character U+202E"),
        ("k\u{43e}sovo", "the non-ASCII character"),
        ("a/b", "`/` is not allowed"),
    ] {
        ws.watchlist(
            "b.toml",
            &valid("NATO [1] [2].").replacen("title", &format!("id = \"{id}\"\ntitle"), 1),
        );
        let out = validate(&ws);
        assert_problems(&ws, &out, 2, &[("watchlist/b.toml", "1:6", why)]);
        // The id is shown with its invisible or look-alike characters escaped.
        assert!(String::from_utf8_lossy(&out.stderr).is_ascii(), "{}", show(&out));
    }
}

/// Issue 17: settings that passed `validate` and then crashed `check` (a panic, exit 101, for
/// `concurrency = 2^62`; an allocation abort, exit 134, for `max_bytes = 30000000000`). Every
/// number has a range now, and both commands refuse a value outside it, exit 2.
#[test]
fn settings_outside_their_range_are_refused_by_validate_and_check() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", &valid("Troops [1] [2]."));
    for (text, pos, words) in [
        (
            "[fetch]\nconcurrency = 4611686018427387904\n",
            "2:15",
            "[fetch].concurrency = 4611686018427387904 is too large: at most 1024",
        ),
        (
            "[fetch]\nmax_bytes = 30000000000\n",
            "2:13",
            "[fetch].max_bytes = 30000000000 is too large: at most 1073741824",
        ),
        ("[fetch]\nretries = 1000\n", "2:11", "at most 10"),
        ("[fetch]\ntimeout_secs = 86400\n", "2:16", "at most 3600"),
        ("[schedule]\njitter_secs = 99999999\n", "2:15", "at most 86400"),
    ] {
        ws.write("citewatch.toml", text);
        let out = validate(&ws);
        assert_problems(&ws, &out, 2, &[("citewatch.toml", pos, words)]);
        let out = ws.run(&["check"]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(words),
            "{}",
            show(&out)
        );
    }
}

/// `n` sources citing one page each, source `i` with the ignore patterns `patterns(i)`.
fn with_ignores(n: usize, patterns: impl Fn(usize) -> Vec<String>) -> String {
    let cites: String = (1..=n).map(|i| format!("[{i}]")).collect();
    let mut t = format!("title = \"Kosovo\"\narticle = \"\"\"\nTroops {cites}.\n\"\"\"\n");
    for i in 1..=n {
        let list: Vec<String> = patterns(i).iter().map(|p| format!("'{p}'")).collect();
        t.push_str(&format!(
            "\n[[source]]\ncite = {i}\nurl = \"https://a.example/{i}\"\nignore = [{}]\n",
            list.join(", ")
        ));
    }
    t
}

/// Issue 17: each `\w{50}\W{50}` took about 5 MiB compiled (300 of them: 2.1 GiB in a run).
/// One pattern compiles to at most 1 MiB now, a source has at most 100, and the watchlist's
/// distinct patterns at most 64 MiB together; each refusal names the pattern's line and column.
#[test]
fn ignore_patterns_are_bounded_in_size_count_and_total() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &with_ignores(1, |i| {
            (0..100).map(|j| format!(r"\w{{50}}\W{{50}}{i}x{j}")).collect()
        }),
    );
    let t = std::time::Instant::now();
    let out = validate(&ws);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 100, "{}", show(&out));
    let prefix = format!(
        "{}:9:11: bad ignore regex `",
        ws.root().join("watchlist/k.toml").display()
    );
    assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
    assert!(
        lines[0].contains("it compiles to more than 1024 KiB"),
        "{}",
        lines[0]
    );
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    eprintln!("100 oversized patterns refused in {took:?}");

    // 101 patterns in one source.
    ws.watchlist(
        "k.toml",
        &with_ignores(1, |_| (0..101).map(|j| format!("^x{j}$")).collect()),
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "9:901",
            "101 ignore patterns in one [[source]]: at most 100",
        )],
    );

    // About 840 KiB each: the 79th distinct one passes 64 MiB. A pattern repeated by other
    // sources counts once.
    ws.watchlist(
        "k.toml",
        &with_ignores(100, |i| {
            vec![format!(r"\w{{15}}{}", i.min(90)), "^Updated .*$".to_owned()]
        }),
    );
    let out = validate(&ws);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{}", show(&out));
    assert!(
        lines[0].contains("the watchlist's ignore patterns take more than 64 MiB compiled together"),
        "{}",
        lines[0]
    );
    // 72 distinct patterns of that size fit.
    ws.watchlist(
        "k.toml",
        &with_ignores(100, |i| vec![format!(r"\w{{15}}{}", i.min(72))]),
    );
    let out = validate(&ws);
    assert_problems(&ws, &out, 0, &[]);
}

/// Issue 17: a 200,000-alternative selector ran past 90 s per page. Selectors are at most
/// 1024 bytes now.
#[test]
fn a_selector_longer_than_the_limit_is_refused() {
    let ws = Workspace::new();
    let long = vec!["p.x"; 200_000].join(", ");
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"K\"\narticle = \"Troops [1].\"\n[[source]]\ncite = 1\nurl = \"https://a.example/\"\nselector = \"{long}\"\n"
        ),
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "watchlist/k.toml",
            "6:12",
            "bad CSS selector `p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, p.x, …`: it is 999998 bytes long, more than 1024",
        )],
    );
}

fn mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(ok.success());
}

/// Issue 17: a FIFO in watchlist/ blocked every reload (opening it waits for a writer), and
/// `article_file = "/dev/zero"` read until memory ran out. Only regular files are read now;
/// anything else in watchlist/ is skipped with a warning and never opened.
#[test]
fn non_regular_files_are_skipped_or_refused_without_being_opened() {
    let ws = Workspace::new();
    ws.watchlist("k.toml", &valid("Troops [1] [2]."));
    mkfifo(&ws.root().join("watchlist/fifo.toml"));
    let _socket =
        std::os::unix::net::UnixListener::bind(ws.root().join("watchlist/sock.toml")).expect("socket");
    std::fs::create_dir(ws.root().join("watchlist/folder.toml")).unwrap();
    ws.watchlist(".#k.toml", "an editor's lock file");
    let t = std::time::Instant::now();
    let out = validate(&ws);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let mut lines = stderr_lines(&out);
    lines.sort();
    let at = |name: &str| ws.root().join("watchlist").join(name).display().to_string();
    assert_eq!(
        lines,
        [
            format!(
                "{}: warning: hidden file skipped (an editor's lock or backup file?)",
                at(".#k.toml")
            ),
            format!(
                "{}: warning: a FIFO, not a regular file: skipped, not opened",
                at("fifo.toml")
            ),
            format!(
                "{}: warning: a folder, not a regular file: skipped, not opened",
                at("folder.toml")
            ),
            format!(
                "{}: warning: a socket, not a regular file: skipped, not opened",
                at("sock.toml")
            ),
        ],
        "{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("k — Kosovo"),
        "{}",
        show(&out)
    );

    // article_file: a device, a FIFO, a file past 4 MiB.
    mkfifo(&ws.root().join("watchlist/prose.md"));
    ws.write("watchlist/big.md", &"Troops serve [1]. ".repeat(250_000));
    for (file, words) in [
        (
            "/dev/zero",
            "article_file `/dev/zero` is a character device, not a regular file",
        ),
        ("prose.md", "prose.md` is a FIFO, not a regular file"),
        (
            "big.md",
            "big.md` is 4500000 bytes, more than the 4 MiB a watchlist or article file may have",
        ),
    ] {
        ws.watchlist(
            "k.toml",
            &format!("title = \"Kosovo\"\narticle_file = \"{file}\"\n{SOURCES}"),
        );
        let t = std::time::Instant::now();
        let out = validate(&ws);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let mut out_lines = stderr_lines(&out);
        out_lines.retain(|l| !l.contains("warning: "));
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert_eq!(out_lines.len(), 1, "{}", show(&out));
        assert!(
            out_lines[0].starts_with(&format!("{}:2:16: ", at("k.toml"))) && out_lines[0].contains(words),
            "{}",
            show(&out)
        );
        // `check` refuses the same way (exit 2), without reading the device.
        let out = ws.run(&["check"]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    }
}

/// Issue 17: symbolic links and `article_file`s leading outside the root were followed
/// without a word. They are errors now, unless `[watchlist] allow_outside = true`.
#[test]
fn files_outside_the_root_need_allow_outside() {
    let ws = Workspace::new();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        elsewhere.path().join("outside.md"),
        "Troops serve in KFOR [1] [2].\n",
    )
    .unwrap();
    std::fs::write(
        elsewhere.path().join("linked.toml"),
        valid("NATO leads it [1] [2]."),
    )
    .unwrap();
    let md = elsewhere.path().join("outside.md");
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle_file = \"{}\"\n{SOURCES}",
            md.display()
        ),
    );
    std::os::unix::fs::symlink(
        elsewhere.path().join("linked.toml"),
        ws.root().join("watchlist/linked.toml"),
    )
    .unwrap();
    let real = |p: &str| std::fs::canonicalize(elsewhere.path().join(p)).unwrap();
    let out = validate(&ws);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let mut lines = stderr_lines(&out);
    // Without its prose, k.toml's sources are uncited.
    lines.retain(|l| !l.contains("is not cited by any statement"));
    assert_eq!(lines.len(), 2, "{}", show(&out));
    assert!(
        lines[1].starts_with(&format!(
            "{}:2:16: article_file `{}` leads to {}, outside the root folder",
            ws.root().join("watchlist/k.toml").display(),
            md.display(),
            real("outside.md").display()
        )) && lines[1].ends_with("move it in, or set [watchlist] allow_outside = true in citewatch.toml"),
        "{}",
        show(&out)
    );
    assert!(
        lines[0].starts_with(&format!(
            "{}: this symbolic link leads to {}, outside the root folder",
            ws.root().join("watchlist/linked.toml").display(),
            real("linked.toml").display()
        )),
        "{}",
        show(&out)
    );
    // A relative path climbing out is outside too.
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle_file = \"../../{}/outside.md\"\n{SOURCES}",
            elsewhere.path().file_name().unwrap().to_string_lossy()
        ),
    );
    assert_eq!(
        ws.root().parent(),
        elsewhere.path().parent(),
        "both in the temp folder"
    );
    let out = validate(&ws);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside.md, outside the root folder"),
        "{}",
        show(&out)
    );

    ws.write("citewatch.toml", "[watchlist]\nallow_outside = true\n");
    let out = validate(&ws);
    assert_problems(&ws, &out, 0, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[1][2] Troops serve in KFOR.") && stdout.contains("[1][2] NATO leads it."),
        "{stdout}"
    );

    // A watchlist folder that is itself a link elsewhere is the admin's choice: its files
    // count as inside.
    let ws = Workspace::new();
    std::fs::remove_dir(ws.root().join("watchlist")).unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("k.toml"), valid("Troops [1] [2].")).unwrap();
    std::os::unix::fs::symlink(folder.path(), ws.root().join("watchlist")).unwrap();
    let out = validate(&ws);
    assert_problems(&ws, &out, 0, &[]);
}

/// `validate` applies the daemon's own `[control]` checks: `listen` off loopback without
/// `token_env` is an error (the daemon refuses to start), a `token_env` unset here a warning.
/// See: issue 15.
#[test]
fn listen_off_loopback_without_a_token_is_an_error() {
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &valid("About 600 soldiers serve [1]. Camp Bondsteel is the base [2]."),
    );
    ws.write("citewatch.toml", "[control]\nlisten = \"0.0.0.0:8787\"\n");
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[(
            "citewatch.toml",
            "2:10",
            "is not a loopback address; refusing to serve the control endpoint without a token",
        )],
    );

    ws.write(
        "citewatch.toml",
        "[control]\nlisten = \"0.0.0.0:8787\"\ntoken_env = \"CITEWATCH_IT_UNSET_TOKEN_VAR\"\n",
    );
    let out = ws
        .cmd(&["validate"])
        .env_remove("CITEWATCH_IT_UNSET_TOKEN_VAR")
        .output()
        .unwrap();
    assert_problems(
        &ws,
        &out,
        0,
        &[(
            "citewatch.toml",
            "3:13",
            "`CITEWATCH_IT_UNSET_TOKEN_VAR`, but it is not set",
        )],
    );
    let out = ws
        .cmd(&["validate"])
        .env("CITEWATCH_IT_UNSET_TOKEN_VAR", "s3cret")
        .output()
        .unwrap();
    assert_problems(&ws, &out, 0, &[]);
}

/// Issue 15: an unknown key does not hide the file's other problems (here a bad URL and a
/// duplicate cite), each still at its own line and column.
#[test]
fn an_unknown_key_does_not_hide_the_other_problems() {
    let ws = Workspace::new();
    ws.watchlist(
        "a.toml",
        "title = \"A\"\ncolour = \"red\"\narticle = \"\"\"x [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"not a url\"\n[[source]]\ncite = 1\nurl = \"https://example.org/\"\n",
    );
    let out = validate(&ws);
    assert_problems(
        &ws,
        &out,
        2,
        &[
            ("watchlist/a.toml", "2:1", "unknown key `colour` in the article"),
            ("watchlist/a.toml", "6:7", "bad url `not a url`"),
            ("watchlist/a.toml", "8:8", "duplicate cite number 1"),
        ],
    );
}
