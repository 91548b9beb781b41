use std::time::Instant;
use redb::{Database, TableDefinition, ReadableDatabase, ReadableTable};
const SRC: TableDefinition<&str, &[u8]> = TableDefinition::new("sources");
const BL: TableDefinition<&str, &[u8]> = TableDefinition::new("baselines");

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmHWM")).unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}
fn src_val(i: usize, t: u64) -> Vec<u8> {
    format!(r#"{{"url":"http://127.0.0.1:18091/p/{}/{:05}.html","versions":[{{"text":"{:064x}","raw":"{:064x}","first_seen":"2026-12-02T10:00:00Z","last_seen":"2026-12-02T10:{:02}:00Z","status":200,"final_url":"http://127.0.0.1:18091/p/{}/{:05}.html","content_type":"text/html","etag":"\"abc{}\"","last_modified":"Sat, 21 Nov 2026 09:15:00 GMT","extractor":"x5"}}],"last":{{"at":"2026-12-02T10:{:02}:00Z","raw":"{:064x}","rules":"x5:","error":null}}}}"#, i/1000, i%1000, i, i*7, t, i/1000, i%1000, i, t, i*7).into_bytes()
}
fn bl_val(i: usize) -> Vec<u8> {
    format!(r#"{{"statement":"scale-{:05}:{:08x}","cite":{},"source":"http://127.0.0.1:18091/p/{}/{:05}.html","version":"{:064x}","anchors":[{{"passage":"{}","block":3,"quote":false,"context":"{}"}}],"missing_quotes":[],"set_at":"2026-12-02T10:00:00Z","set_by":"first-seen","statement_text":"{}","flag":null}}"#, i/10, i, i%10+1, i/1000, i%1000, i, "The council said it would keep most routes running through the winter months. ".repeat(2), "x".repeat(100), "The council said it would keep most routes.").into_bytes()
}
fn key(i: usize) -> String { format!("http://127.0.0.1:18091/p/{}/{:05}.html", i/1000, i%1000) }
fn bkey(i: usize) -> String { format!("scale-{:05}:{:08x}#{}", i/10, i, i%10+1) }

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args[1].as_str(); let phase = args[2].as_str(); let n: usize = args[3].parse().unwrap();
    let dir = std::path::PathBuf::from(&args[4]);
    let t = Instant::now();
    match engine {
        "redb" => {
            let db = Database::create(dir.join("store.redb")).unwrap();
            match phase {
                "cold" => { let w = db.begin_write().unwrap(); { let mut s = w.open_table(SRC).unwrap(); let mut b = w.open_table(BL).unwrap();
                    for i in 0..n { s.insert(key(i).as_str(), src_val(i, 0).as_slice()).unwrap(); b.insert(bkey(i).as_str(), bl_val(i).as_slice()).unwrap(); } } w.commit().unwrap(); }
                "all" => { let w = db.begin_write().unwrap(); { let mut s = w.open_table(SRC).unwrap(); let mut b = w.open_table(BL).unwrap();
                    let mut tot = 0;
                    for i in 0..n { let v = s.get(key(i).as_str()).unwrap().unwrap().value().to_vec(); let x: serde_json::Value = serde_json::from_slice(&v).unwrap(); tot += x.as_object().unwrap().len();
                        let bv = b.get(bkey(i).as_str()).unwrap().unwrap().value().to_vec(); let _y: serde_json::Value = serde_json::from_slice(&bv).unwrap();
                        s.insert(key(i).as_str(), src_val(i, 1).as_slice()).unwrap(); }
                    assert!(tot > 0); } w.commit().unwrap(); }
                "only" => { let w = db.begin_write().unwrap(); { let mut s = w.open_table(SRC).unwrap(); let b = w.open_table(BL).unwrap();
                    for i in (n/2)..(n/2+10) { let v = s.get(key(i).as_str()).unwrap().unwrap().value().to_vec(); let _x: serde_json::Value = serde_json::from_slice(&v).unwrap();
                        let _bv = b.get(bkey(i).as_str()).unwrap().unwrap().value().to_vec();
                        s.insert(key(i).as_str(), src_val(i, 2).as_slice()).unwrap(); } } w.commit().unwrap(); }
                "read" => { let r = db.begin_read().unwrap(); let s = r.open_table(SRC).unwrap(); let mut c = 0; for i in (n/2)..(n/2+10) { c += s.get(key(i).as_str()).unwrap().unwrap().value().len(); } assert!(c>0); }
                _ => panic!(),
            }
        }
        _ => {
            let c = rusqlite::Connection::open(dir.join("store.sqlite")).unwrap();
            c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS sources(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID; CREATE TABLE IF NOT EXISTS baselines(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;").unwrap();
            let mut c = c;
            match phase {
                "cold" => { let tx = c.transaction().unwrap(); { let mut s = tx.prepare("INSERT INTO sources VALUES(?1,?2)").unwrap(); let mut b = tx.prepare("INSERT INTO baselines VALUES(?1,?2)").unwrap();
                    for i in 0..n { s.execute((key(i), src_val(i,0))).unwrap(); b.execute((bkey(i), bl_val(i))).unwrap(); } } tx.commit().unwrap(); }
                "all" => { let tx = c.transaction().unwrap(); { let mut g = tx.prepare("SELECT v FROM sources WHERE k=?1").unwrap(); let mut gb = tx.prepare("SELECT v FROM baselines WHERE k=?1").unwrap(); let mut s = tx.prepare("UPDATE sources SET v=?2 WHERE k=?1").unwrap();
                    for i in 0..n { let v: Vec<u8> = g.query_row([key(i)], |r| r.get(0)).unwrap(); let _x: serde_json::Value = serde_json::from_slice(&v).unwrap();
                        let bv: Vec<u8> = gb.query_row([bkey(i)], |r| r.get(0)).unwrap(); let _y: serde_json::Value = serde_json::from_slice(&bv).unwrap();
                        s.execute((key(i), src_val(i,1))).unwrap(); } } tx.commit().unwrap(); }
                "only" => { let tx = c.transaction().unwrap(); { let mut g = tx.prepare("SELECT v FROM sources WHERE k=?1").unwrap(); let mut gb = tx.prepare("SELECT v FROM baselines WHERE k=?1").unwrap(); let mut s = tx.prepare("UPDATE sources SET v=?2 WHERE k=?1").unwrap();
                    for i in (n/2)..(n/2+10) { let v: Vec<u8> = g.query_row([key(i)], |r| r.get(0)).unwrap(); let _x: serde_json::Value = serde_json::from_slice(&v).unwrap();
                        let _bv: Vec<u8> = gb.query_row([bkey(i)], |r| r.get(0)).unwrap();
                        s.execute((key(i), src_val(i,2))).unwrap(); } } tx.commit().unwrap(); }
                "read" => { let mut g = c.prepare("SELECT v FROM sources WHERE k=?1").unwrap(); let mut t=0; for i in (n/2)..(n/2+10) { let v: Vec<u8> = g.query_row([key(i)], |r| r.get(0)).unwrap(); t+=v.len(); } assert!(t>0); }
                _ => panic!(),
            }
        }
    }
    println!("{engine} {phase} n={n}: {:.1} ms, peak {} MiB", t.elapsed().as_secs_f64()*1000.0, rss());
}
