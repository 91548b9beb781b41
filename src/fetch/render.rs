//! A headless Chrome/Chromium, driven over the DevTools protocol (chromiumoxide), that reads
//! pages whose text a script inserts: URL → the page's HTML after its scripts ran.
//!
//! - One browser per run, started on the first page that needs it ([`Renderer::render`]);
//!   a run whose sources need none never starts one.
//! - At most `[fetch].concurrency` pages open at once.
//! - A page is read when it settled: the source's selector is present with text, or its DOM
//!   did not change for [`QUIET`]; at the latest after `[browser].wait_secs` from the start
//!   of its navigation, as it is then.
//! - A browser that crashed (its DevTools connection ended) or hung (a page took far longer
//!   than `wait_secs`) fails the pages it held with `render`; the next page starts a new one.
//! - Nothing is downloaded: the executable is `[browser].path` or found on `PATH`.
//!
//! Memory: the browser's processes are summed (proportional set size, from
//! `/proc/<pid>/smaps_rollup`) after each page; the peak is in [`RenderStats`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use futures_util::StreamExt;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use crate::settings::BrowserSettings;

/// `[fetch] render = "auto"`: a 2xx HTML page whose static HTML carries scripts and yields
/// fewer than this many words of main text is read again in the browser.
pub const AUTO_MIN_WORDS: usize = 30;

/// How long the DOM must stay unchanged for a page without a selector to count as settled.
pub const QUIET: Duration = Duration::from_secs(1);

/// Executables looked for on `PATH`, in order, when `[browser].path` is not set.
pub const BROWSER_NAMES: &[&str] = &["chromium-headless-shell", "chromium", "google-chrome"];

/// Slack on top of `wait_secs` for the browser to answer at all (open a tab, hand over the
/// HTML) before it is taken for hung.
const SLACK: Duration = Duration::from_secs(10);

/// What the browser did in a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderStats {
    /// Pages read in the browser.
    pub pages: u64,
    /// Browsers started (more than one after a crash).
    pub launches: u64,
    /// Peak memory of the browser's processes, bytes (proportional set size).
    pub peak_bytes: u64,
    /// Time spent rendering, summed over pages.
    pub busy: Duration,
}

/// A running browser. Dropping it kills its processes (the reaper goes first, while the
/// launcher still is their parent).
struct Live {
    reaper: Reaper,
    browser: Arc<Browser>,
    /// False once the DevTools connection ended (the browser exited or crashed).
    alive: Arc<AtomicBool>,
    pid: Option<u32>,
    handler: tokio_util::task::AbortOnDropHandle<()>,
    /// Its profile, removed when the browser is dropped.
    _profile: tempfile::TempDir,
}

/// Kills the descendants of the browser's launcher when dropped.
struct Reaper(Option<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_descendants(pid);
        }
    }
}

/// Renders pages in one lazily started browser. Cheap to share behind an `Arc`.
pub struct Renderer {
    settings: BrowserSettings,
    user_agent: String,
    pages: Semaphore,
    live: Mutex<Option<Live>>,
    stats: std::sync::Mutex<RenderStats>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The JavaScript that waits for the page to settle: resolves with `"selector"`, `"quiet"`
/// or `"deadline"`.
fn settle_script(selector: Option<&str>, budget: Duration) -> String {
    let sel = serde_json::to_string(&selector).unwrap_or_else(|_| "null".into());
    format!(
        r#"new Promise((resolve) => {{
  const sel = {sel};
  const quiet = {quiet};
  const deadline = Date.now() + {budget};
  let last = Date.now();
  const obs = new MutationObserver(() => {{ last = Date.now(); }});
  obs.observe(document, {{ subtree: true, childList: true, characterData: true }});
  const tick = () => {{
    const now = Date.now();
    let found = false;
    if (sel) {{
      try {{ const el = document.querySelector(sel); found = !!el && el.textContent.trim().length > 0; }} catch (e) {{}}
    }}
    const why = found && now - last >= 100 ? "selector" : now - last >= quiet ? "quiet" : now >= deadline ? "deadline" : null;
    if (why) {{ obs.disconnect(); resolve(why); }} else {{ setTimeout(tick, 50); }}
  }};
  tick();
}})"#,
        quiet = QUIET.as_millis(),
        budget = budget.as_millis(),
    )
}

/// `[browser].path`, else the first of [`BROWSER_NAMES`] on `PATH`.
pub fn find_browser(settings: &BrowserSettings) -> Result<PathBuf, String> {
    if let Some(p) = &settings.path {
        return if p.is_file() {
            Ok(p.clone())
        } else {
            Err(format!("[browser].path `{}` is not a file", p.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in BROWSER_NAMES {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "no headless browser found: none of {} on PATH; install one (Debian: apt-get install \
         chromium-headless-shell) or set [browser].path",
        BROWSER_NAMES.join(", ")
    ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Renderer {
    /// A renderer that starts its browser when first asked; at most `concurrency` pages.
    pub fn new(settings: &BrowserSettings, user_agent: &str, concurrency: usize) -> Self {
        Self {
            settings: settings.clone(),
            user_agent: user_agent.to_owned(),
            pages: Semaphore::new(concurrency.max(1)),
            live: Mutex::new(None),
            stats: std::sync::Mutex::new(RenderStats::default()),
        }
    }

    /// What the browser did so far.
    pub fn stats(&self) -> RenderStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn wait(&self) -> Duration {
        Duration::from_secs(self.settings.wait_secs.max(1))
    }

    /// The running browser, started (or started again, after a crash) if need be.
    async fn browser(&self) -> Result<(Arc<Browser>, Arc<AtomicBool>), String> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref()
            && l.alive.load(Ordering::SeqCst)
        {
            return Ok((l.browser.clone(), l.alive.clone()));
        }
        if live.take().is_some() {
            // Dropping it kills whatever is left of it.
            tracing::warn!("the headless browser ended; starting a new one");
        }
        let l = self.launch().await?;
        let out = (l.browser.clone(), l.alive.clone());
        *live = Some(l);
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).launches += 1;
        Ok(out)
    }

    async fn launch(&self) -> Result<Live, String> {
        let exe = find_browser(&self.settings)?;
        let profile = tempfile::Builder::new()
            .prefix("citewatch-browser-")
            .tempdir()
            .map_err(|e| format!("cannot create the browser's profile folder: {e}"))?;
        let mut config = BrowserConfig::builder()
            .chrome_executable(&exe)
            .user_data_dir(profile.path())
            .launch_timeout(Duration::from_secs(20))
            .request_timeout(self.wait() + SLACK)
            // chromiumoxide adds the leading `--`.
            .arg(("user-agent", self.user_agent.as_str()))
            .arg("disable-gpu")
            .arg("no-default-browser-check");
        // Chrome's sandbox cannot run as root.
        if rustix::process::geteuid().is_root() {
            config = config.no_sandbox();
        }
        let config = config.build().map_err(|e| format!("browser settings: {e}"))?;
        let started = Instant::now();
        let (mut browser, mut handler) = Browser::launch(config)
            .await
            .map_err(|e| format!("cannot start the browser `{}`: {e}", exe.display()))?;
        let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        let handler = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            // The handler reports a broken connection as an error and then never ends: any
            // error but a message it could not parse means the browser is gone.
            while let Some(ev) = handler.next().await {
                match ev {
                    Ok(()) => {}
                    Err(e @ chromiumoxide::error::CdpError::InvalidMessage(..)) => {
                        tracing::debug!("browser connection: {e}");
                    }
                    Err(e) => {
                        tracing::warn!("the headless browser's connection broke: {e}");
                        break;
                    }
                }
            }
            flag.store(false, Ordering::SeqCst);
        }));
        tracing::info!(
            browser = %exe.display(),
            pid,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "headless browser started"
        );
        Ok(Live {
            reaper: Reaper(pid),
            browser: Arc::new(browser),
            alive,
            pid,
            handler,
            _profile: profile,
        })
    }

    /// The page at `url` as the browser renders it (its HTML after the scripts ran), waiting
    /// for it to settle per `selector`; the reason when it cannot be read.
    pub async fn render(&self, url: &Url, selector: Option<&str>) -> Result<String, String> {
        let _permit = self.pages.acquire().await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (browser, alive) = self.browser().await?;
        let wait = self.wait();
        let result = tokio::time::timeout(wait + SLACK, self.read_page(&browser, url, selector, wait)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                // The browser stopped answering: the pages it holds fail, the next starts anew.
                alive.store(false, Ordering::SeqCst);
                Err(format!(
                    "the browser did not answer within {} s (wait_secs = {} plus {} s)",
                    (wait + SLACK).as_secs(),
                    wait.as_secs(),
                    SLACK.as_secs()
                ))
            }
        };
        if result.is_err() && !alive.load(Ordering::SeqCst) {
            let mut live = self.live.lock().await;
            if live.as_ref().is_some_and(|l| Arc::ptr_eq(&l.alive, &alive)) {
                // Dropping it kills its processes; pages still on it fail.
                live.take();
            }
        }
        let mem = self.memory().await;
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.busy += started.elapsed();
        if result.is_ok() {
            st.pages += 1;
        }
        st.peak_bytes = st.peak_bytes.max(mem);
        drop(st);
        tracing::debug!(url = %url, elapsed_ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "rendered");
        result
    }

    async fn read_page(
        &self,
        browser: &Browser,
        url: &Url,
        selector: Option<&str>,
        wait: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + wait;
        let page = browser
            .new_page("about:blank")
            .await
            .map_err(|e| format!("browser: cannot open a tab: {e}"))?;
        let read = async {
            // The load event may never come (a resource that hangs): the DOM is read anyway.
            match tokio::time::timeout(wait, page.goto(url.as_str())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("browser: cannot load the page: {e}")),
                Err(_) => tracing::debug!(url = %url, "page load did not finish within wait_secs"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let how = tokio::time::timeout(
                left + Duration::from_secs(1),
                page.evaluate(settle_script(selector, left)),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_else(|| "deadline".into());
            if how == "deadline" {
                tracing::info!(url = %url, wait_secs = wait.as_secs(), "page still changing after wait_secs; read as it is");
            }
            page.content()
                .await
                .map_err(|e| format!("browser: cannot read the page: {e}"))
        };
        let html = read.await;
        // Closing may fail on a dead browser; the tab goes with it then.
        let _ = tokio::time::timeout(Duration::from_secs(2), page.close()).await;
        html
    }

    /// The browser's memory now: the proportional set size of its processes, bytes.
    async fn memory(&self) -> u64 {
        let pid = self.live.lock().await.as_ref().and_then(|l| l.pid);
        match pid {
            Some(pid) => tokio::task::spawn_blocking(move || tree_pss(pid))
                .await
                .unwrap_or(0),
            None => 0,
        }
    }

    /// The process id of the running browser, if one runs (for diagnostics and tests).
    pub async fn browser_pid(&self) -> Option<u32> {
        self.live.lock().await.as_ref().and_then(|l| l.pid)
    }

    /// Closes the browser (if one was started) and returns what it did.
    pub async fn close(&self) -> RenderStats {
        if let Some(l) = self.live.lock().await.take() {
            let Live {
                reaper,
                browser,
                handler,
                ..
            } = l;
            if let Ok(mut b) = Arc::try_unwrap(browser) {
                // A clean exit; then whatever is left is killed, the launcher last.
                let _ = tokio::time::timeout(Duration::from_secs(3), b.close()).await;
                let _ = tokio::time::timeout(Duration::from_secs(3), b.wait()).await;
                drop(reaper);
                drop(b);
            }
            drop(handler);
        }
        let st = self.stats();
        if st.launches > 0 {
            tracing::info!(
                pages = st.pages,
                launches = st.launches,
                peak_mib = st.peak_bytes / (1024 * 1024),
                busy_ms = st.busy.as_millis() as u64,
                "headless browser closed"
            );
        }
        st
    }
}

/// `pid` and its descendants (Debian's `chromium-headless-shell` is a shell script that runs
/// the browser as its child; the browser runs its renderers as children of its own).
fn process_tree(pid: u32) -> Vec<u32> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // The parent is the second field after the command's closing parenthesis.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(pp) = ppid {
                children.entry(pp).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        out.push(p);
        todo.extend(children.get(&p).into_iter().flatten());
    }
    out
}

/// Proportional set size of `pid` and its descendants, bytes (0 where /proc cannot tell).
fn tree_pss(pid: u32) -> u64 {
    process_tree(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

/// Kills `pid`'s descendants (the launcher itself is killed when its handle is dropped), so
/// that no browser process outlives the run, whatever state it was left in.
fn kill_descendants(pid: u32) {
    for p in process_tree(pid).into_iter().skip(1) {
        if let Some(p) = i32::try_from(p).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_script_quotes_the_selector() {
        let js = settle_script(Some("main \"x\""), Duration::from_secs(2));
        assert!(js.contains(r#"const sel = "main \"x\"";"#), "{js}");
        assert!(js.contains("Date.now() + 2000"));
        assert!(settle_script(None, Duration::ZERO).contains("const sel = null;"));
    }

    /// With the real browser (`.ci/run` installs chromium-headless-shell): a page whose text
    /// a script writes is read with it; a browser killed under the renderer is replaced, and
    /// the run's renderer goes on. See: issue 13.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renders_scripts_and_replaces_a_crashed_browser() {
        let settings = BrowserSettings {
            path: None,
            wait_secs: 5,
        };
        let r = Renderer::new(&settings, "citewatch-test", 2);
        assert_eq!(r.stats().launches, 0, "nothing started before a page needs it");
        let url = Url::parse(
            "data:text/html,<p id=x></p><script>document.getElementById('x').textContent='written-by-script'</script>",
        )
        .unwrap();
        let html = r.render(&url, Some("#x")).await.expect("rendered");
        assert!(html.contains("<p id=\"x\">written-by-script</p>"), "{html}");
        let launcher = r.browser_pid().await.expect("a browser runs");
        let first = process_tree(launcher);
        assert!(first.len() > 1, "the browser and its helpers: {first:?}");
        // The browser crashes: every process of it dies at once.
        kill_descendants(launcher);
        // The page in flight when the browser dies may fail; the next one gets a new browser.
        let mut again = r.render(&url, None).await;
        if again.is_err() {
            again = r.render(&url, None).await;
        }
        assert!(again.expect("a new browser").contains("written-by-script"));
        let second = r.browser_pid().await.expect("a new browser runs");
        assert_ne!(second, launcher);
        let st = r.close().await;
        assert_eq!(st.launches, 2, "{st:?}");
        // Nothing of either browser is left.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for p in first.iter().chain(&process_tree(second)) {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            assert!(
                stat.is_empty() || stat.contains(") Z "),
                "process {p} left: {stat}"
            );
        }
        assert!(
            st.peak_bytes > 10 << 20,
            "the browser's memory is counted: {st:?}"
        );
    }

    /// A browser that stops answering (every process of it stopped) fails the page it held
    /// within wait_secs plus the slack, and the next page gets a new browser.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_browser_fails_its_page_and_is_replaced() {
        let settings = BrowserSettings {
            path: None,
            wait_secs: 1,
        };
        let r = Renderer::new(&settings, "citewatch-test", 2);
        let url = Url::parse("data:text/html,<p>static text</p>").unwrap();
        r.render(&url, None).await.expect("rendered");
        let launcher = r.browser_pid().await.expect("a browser runs");
        let hung = process_tree(launcher);
        for p in hung.iter().skip(1) {
            if let Some(p) = i32::try_from(*p).ok().and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::STOP);
            }
        }
        let started = Instant::now();
        let err = r
            .render(&url, None)
            .await
            .expect_err("the hung browser cannot render");
        assert!(err.contains("did not answer"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1) + SLACK + Duration::from_secs(3));
        let html = r.render(&url, None).await.expect("a new browser");
        assert!(html.contains("static text"));
        let st = r.close().await;
        assert_eq!(st.launches, 2, "{st:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        for p in &hung {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            assert!(
                stat.is_empty() || stat.contains(") Z "),
                "process {p} left: {stat}"
            );
        }
    }

    #[test]
    fn a_missing_configured_browser_is_named() {
        let s = BrowserSettings {
            path: Some("/nonexistent/chrome".into()),
            wait_secs: 1,
        };
        assert!(find_browser(&s).unwrap_err().contains("/nonexistent/chrome"));
    }
}
