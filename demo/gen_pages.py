import html, os
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")

def news(site, title, date, byline, paras, related, stamp, menu=None, order=None):
    menu = menu or ["World", "Europe", "Balkans", "Politics", "Defence", "Opinion", "Newsletters"]
    if order: paras = [paras[i] for i in order]
    nav = "".join(f'<li><a href="/{m.lower()}">{m}</a></li>' for m in menu)
    body = "\n".join(f"      <p>{p}</p>" for p in paras)
    rel = "".join(f'<li><a href="/r/{i}">{html.escape(r)}</a></li>' for i, r in enumerate(related))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)} | {site}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta property="og:title" content="{html.escape(title)}">
  <style>body{{font-family:Georgia,serif;margin:0}} .wrap{{max-width:46rem;margin:auto}} .ad{{background:#eee;height:90px}}</style>
  <script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}</script>
  <script type="application/ld+json">{{"@type":"NewsArticle","headline":"{html.escape(title)}","datePublished":"{date}"}}</script>
</head>
<body>
  <div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. <button>Accept all</button> <button>Manage</button></div>
  <header class="site-header"><a class="logo" href="/">{site}</a><nav class="main-nav"><ul>{nav}</ul></nav></header>
  <div class="ad ad-top">Advertisement</div>
  <main class="wrap">
    <nav class="breadcrumb"><a href="/">Home</a> › <a href="/europe">Europe</a></nav>
    <article class="story">
      <h1>{html.escape(title)}</h1>
      <p class="byline">By {byline} · {date}</p>
{body}
    </article>
    <aside class="related"><h2>Related links</h2><ul>{rel}</ul></aside>
  </main>
  <footer class="site-footer"><p>© {site}. All rights reserved.</p><p class="generated">Page generated {stamp}</p></footer>
  <script src="/static/app.js"></script>
</body>
</html>
"""

def gov(site, title, date, paras, stamp, sidebar, menu=None, table=None, order=None):
    menu = menu or ["About", "News", "Operations", "Media Centre", "Contact"]
    if order: paras = [paras[i] for i in order]
    nav = " | ".join(f'<a href="/{m.lower().replace(" ", "-")}">{m}</a>' for m in menu)
    body = "\n".join(f"        <p>{p}</p>" for p in paras)
    side = "".join(f"<li>{html.escape(s)}</li>" for s in sidebar)
    tbl = ""
    if table:
        rows = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in table)
        tbl = f'\n        <table class="contributors"><tr><th>Nation</th><th>Troops</th></tr>{rows}</table>'
    return f"""<!doctype html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{html.escape(title)} - {site}</title>
<link rel="stylesheet" href="/css/site.css">
<script>var SITE_BUILD="b{sum(map(ord, stamp))}";</script>
</head>
<body>
<div class="topbar"><span class="lang">EN | SQ | SR</span> <form class="search" action="/search"><input name="q"><button>Search</button></form></div>
<div id="menu" class="navigation">{nav}</div>
<div id="content">
  <div class="content-main">
    <div class="article-body">
        <h1>{html.escape(title)}</h1>
        <div class="date">{date}</div>
{body}{tbl}
    </div>
  </div>
  <div class="sidebar"><h3>Latest news</h3><ul>{side}</ul></div>
</div>
<div id="footer">{site} · <a href="/privacy">Privacy</a> · Last updated: {stamp}</div>
<div class="share-buttons">Share: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>
</body>
</html>
"""

S1 = ["Kosovo's Defense Ministry has denied claims that the United States plans to withdraw its troops from the NATO-led KFOR mission.",
      "The United States contributes more than 600 troops to KFOR, most of them based at Camp Bondsteel in the east of the country.",
      "That makes the U.S. contribution of several hundred soldiers a modest one compared with the presence after 1999, while KFOR as a whole counts several thousand personnel from dozens of nations.",
      "A ministry spokesperson said a withdrawal of U.S. troops was out of the question and that Washington had given no such signal.",
      "Officials said no changes were planned to the U.S. presence in KFOR, and no policy change removing U.S. contributions had been announced.",
      "The claims followed public debate about U.S. force posture in Europe and speculation in some outlets about reductions or reviews of deployments.",
      "Some analysts raise questions about whether Washington might reallocate troops, a debate tied to defense spending and force posture in Europe.",
      "U.S. troops in Kosovo also train with the Kosovo Security Force during exercises such as DEFENDER 25."]
S2 = ["DEFENDER 25 is U.S. Army Europe and Africa's largest annual exercise, bringing together thousands of U.S. and allied troops across the continent.",
      "This year DEFENDER 25 included a component in Kosovo, Immediate Response 25, in which U.S. soldiers trained alongside the Kosovo Security Force.",
      "The training focused on NATO interoperability, medical support and command post procedures rather than combat operations.",
      "Immediate Response 25 ran from May through June 2025 in several countries of Southeast Europe."]
S3 = ["The U.S. Army and the Kosovo Security Force strengthened NATO interoperability during DEFENDER 25.",
      "In Kosovo, the exercise's Immediate Response 25 component brought approximately 180 personnel from the 28th Infantry Division of the Pennsylvania Army National Guard to train alongside the Kosovo Security Force.",
      "Kosovo officials described the exercise as important for developing their forces.",
      "U.S. Embassy material framed the participation as strengthening NATO interoperability and the partnership between the United States and Kosovo.",
      "The soldiers conducted field training, medical evacuation drills and joint planning with their Kosovo counterparts."]
S4 = ["KFOR is a NATO-led international peacekeeping force in Kosovo.",
      "The Kosovo Force was established on 12 June 1999 under United Nations Security Council Resolution 1244.",
      "UNSCR 1244 remains the legal basis of KFOR's presence, and NATO remains the overall authority for KFOR operations.",
      "Operational command of KFOR rests with the Commander KFOR (COMKFOR), who reports through the NATO chain of command to Joint Force Command Naples.",
      "National contingents, including the United States, serve under this multinational framework rather than separate national commands.",
      "KFOR's mission is to contribute to a safe and secure environment and freedom of movement for all people in Kosovo."]
S5 = ["Army Guardsmen assigned to KFOR conducted training with the Kosovo Search and Rescue Association.",
      "The soldiers and volunteers rehearsed medical evacuation of casualties from mountainous terrain, including hoist and litter procedures.",
      "Before deploying, the Guard unit carried out training and medical-evacuation exercises at its home station.",
      "Leaders said the training built readiness for KFOR's mission and strengthened partnership with local communities."]
S6 = ["U.S. Embassy Pristina: news and events.",
      "Senior U.S. officials visited Camp Bondsteel in 2025 and met U.S. soldiers serving with KFOR's Regional Command-East.",
      "The visitors also met National Guard soldiers and Kosovo officials, who described the U.S. presence as stabilizing and partnership-oriented.",
      "The United States remains committed to Kosovo's security as one ally among many in the NATO-led KFOR mission."]
S7 = ["KFOR currently comprises about 4,500 troops provided by 29 Allies and partner nations.",
      "The force is composed of contingents from dozens of nations, as listed in the table below.",
      "Contributions change as national rotations arrive and depart; figures are updated periodically."]
T7 = [("Italy", "1,120"), ("United States", "about 600"), ("Türkiye", "390"), ("Hungary", "410"), ("Austria", "300"), ("Poland", "250")]
S8 = ["Camp Bondsteel, built in 1999 near Ferizaj/Uroševac, is the largest U.S. facility in the Balkans.",
      "The camp serves as the headquarters of KFOR Regional Command-East and as a hub for U.S. troops participating in KFOR activities.",
      "Over the years the camp has hosted rotations from active-duty units and the National Guard.",
      "Facilities include housing, a medical clinic and training ranges used by multinational forces."]
S9 = ["Army Guard soldiers in Kosovo hosted an inaugural event for non-commissioned officers from KFOR's multinational units.",
      "NCOs from eight nations took part in the two-day event at Camp Bondsteel, which covered patrols, crowd and riot control and liaison with local communities.",
      "The Guard units assigned to KFOR said the event built interoperability and trust among allied NCO corps.",
      "Organisers plan to hold the event with every rotation."]
S10 = ["The U.S. Department of Defense has dismissed reports of a planned withdrawal of American troops from Kosovo.",
       "\u201cAt this time, we have no announcements regarding changes to the deployment of forces,\u201d a Pentagon official said.",
       "Kosovo's government also rejected the reports, saying it had received assurances from Washington.",
       "The reports followed speculation about a broader review of U.S. force posture in Europe and whether Washington might reallocate troops."]

REL = ["Serbia and Kosovo talks stall again", "EU envoy visits Pristina", "Election results in North Macedonia"]
SIDE = ["KFOR commander meets local leaders", "Exercise concludes in Ferizaj", "Medical outreach in Gjilan"]

pages = {
 1: lambda stamp, **k: news("Türkiye Today", "Kosovo denies claims of US military withdrawal", "14 March 2025", "Arta Krasniqi", S1, REL, stamp, **k),
 2: lambda stamp, **k: news("U.S. Army Europe and Africa", "DEFENDER 25 brings allies together across Europe", "2 June 2025", "USAREUR-AF Public Affairs", S2, REL, stamp, menu=["News", "Exercises", "Units", "Leadership", "Contact"], **k),
 3: lambda stamp, **k: news("ABNASE", "The U.S. Army and the KSF strengthen NATO interoperability during DEFENDER 25", "28 May 2025", "Staff", S3, REL, stamp, **k),
 4: lambda stamp, **k: gov("NATO KFOR", "KFOR: mission and history", "Updated 2025", S4, stamp, SIDE, **k),
 5: lambda stamp, **k: news("National Guard", "Army Guardsmen conduct training with Kosovo Search and Rescue Association", "9 April 2025", "Sgt. Jane Miller", S5, REL, stamp, menu=["News", "Features", "Photos", "Videos"], **k),
 6: lambda stamp, **k: gov("U.S. Embassy in Kosovo", "U.S. Embassy Pristina", "2025", S6, stamp, SIDE, **k),
 7: lambda stamp, **k: gov("NATO KFOR", "KFOR key facts and figures", "As of 2025", S7, stamp, SIDE, table=T7, **k),
 8: lambda stamp, **k: news("Army Technology", "Camp Bondsteel, Kosovo", "3 January 2025", "Staff", S8, REL, stamp, **k),
 9: lambda stamp, **k: news("National Guard", "Army Guard soldiers in Kosovo host inaugural event for non-commissioned officers", "11 September 2025", "Spc. Lee Park", S9, REL, stamp, menu=["News", "Features", "Photos", "Videos"], **k),
 10: lambda stamp, **k: news("RKS News", "Pentagon: no announcements on changes to U.S. forces in Kosovo", "25 March 2025", "Staff", S10, REL, stamp, **k),
}
os.makedirs(OUT, exist_ok=True)
for n, f in pages.items():
    open(f"{OUT}/{n}.html", "w").write(f("2025-11-26 08:00:00 UTC"))
# The redesign of [4]: new menus, moved paragraphs, new timestamp; same text.
open(f"{OUT}/4-redesign.html", "w").write(gov("NATO KFOR", "KFOR: mission and history", "Updated 2025", S4, "2025-12-03 17:42:10 UTC", ["Winter patrols begin", "KFOR band concert in Prizren", "New commander assumes duties"], menu=["Home", "Who we are", "What we do", "Newsroom", "Multimedia", "Contact us"], order=[0, 5, 3, 1, 2, 4]))
