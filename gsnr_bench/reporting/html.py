"""A self-contained static leaderboard page: inline CSS, inline JS (sorting, filtering), inline SVG plots.
No network, no CDN, no timestamps: the same results give the same bytes."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from .plots import pws_by_ratio_svg, read_train_log, wtl_svg
from .results import KEY, MEAN_JUDGE, POOLED
from .tables import MISSING_MD, ratio_label


@dataclass(frozen=True)
class PageExtras:
    """Optional material beside the results: loss curves (label -> train_log.jsonl), and tables given
    as lists of flat dicts (bias diagnostics, enrichment, human PWS, judge-human agreement)."""

    title: str = "gsnr-bench leaderboard"
    train_logs: Mapping[str, str | Path] = field(default_factory=dict)
    bias: Sequence[Mapping[str, Any]] = ()
    enrichment: Sequence[Mapping[str, Any]] = ()
    sensitivity: Sequence[Mapping[str, Any]] = ()  # controls: PWS(oracle) - PWS(anti-oracle / random)
    health: Sequence[Mapping[str, Any]] = ()  # selector health, one display row per scoring
    stability: Sequence[Mapping[str, Any]] = ()  # rankings over seeds
    dynamics: Sequence[tuple[str, str]] = ()  # (label, inline SVG): G-SNR norm trajectories and Figure 1
    human: Sequence[Mapping[str, Any]] = ()
    agreement: Sequence[Mapping[str, Any]] = ()
    lengths: Sequence[Mapping[str, Any]] = ()  # per selector: Spearman(score, response length), subset lengths
    bootstrap_rounds: int | None = None
    notes: str = ""


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:16px 24px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.lead{color:#555;margin:0 0 12px;font-size:14px}
table{border-collapse:collapse;font-size:13px;background:#fff;width:100%}
th,td{padding:4px 6px;border-bottom:1px solid #e6e6e6;text-align:left;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f2f5;position:sticky;top:0;cursor:pointer;user-select:none}
th.sorted-asc::after{content:" \\25B2";font-size:10px}th.sorted-desc::after{content:" \\25BC";font-size:10px}
tbody tr:nth-child(even){background:#fafbfc}tbody tr:hover{background:#eef5ff}
td.pws{font-weight:600}td.up{color:#1b7f2a}td.down{color:#b3261e}
.track{display:inline-block;position:relative;width:64px;height:10px;background:#eceff1;vertical-align:middle;margin-left:6px;border-radius:2px}
.track::after{content:"";position:absolute;left:50%;top:-2px;bottom:-2px;border-left:1px solid #777}
.fill{position:absolute;top:0;bottom:0}.fill.pos{background:#66bb6a}.fill.neg{background:#ef5350}
.wide{overflow-x:auto}
.plot{max-width:100%;height:auto}.plots{display:flex;flex-wrap:wrap;gap:16px}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;margin:8px 0}
input.filter{margin:4px 0 8px;padding:4px 8px;width:280px;font-size:13px}
.scroll{max-height:520px;overflow:auto;border:1px solid #e3e3e3}
"""

_JS = """
(function(){
function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent.trim();
 if(v===''||v==='\\u2013')return null;var f=parseFloat(v);return isNaN(f)||!/^[-+0-9.eE]+$/.test(v)?v.toLowerCase():f;}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var asc=!th.classList.contains('sorted-asc');
  t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
   if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
   if(typeof x!==typeof y){x=String(x);y=String(y);}
   return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(function(r){body.appendChild(r);});});});});
document.querySelectorAll('input.filter').forEach(function(inp){inp.addEventListener('input',function(){
 var q=inp.value.toLowerCase(),t=document.getElementById(inp.getAttribute('data-table'));
 Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
  r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
var m=/sort=(\\d+)(-desc)?/.exec(location.hash);var lb=document.getElementById('leaderboard');
if(m&&lb){var th=lb.querySelectorAll('th')[+m[1]];if(th){th.click();if(m[2])th.click();}}
document.body.setAttribute('data-ready','1');
})();
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(v: Any, fmt: str = "{:.3f}") -> tuple[str, str]:
    """(display text, sort key); missing is '–' with an empty key so it sorts last."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING_MD, ""
    return fmt.format(v), repr(float(v))


def _td(text: str, sort_key: str | None = None, cls: str = "") -> str:
    attr = f' data-v="{_e(sort_key)}"' if sort_key is not None else ""
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}{attr}>{text}</td>"


def _table(tid: str, head: Sequence[tuple[str, bool]], rows: list[str]) -> str:
    ths = "".join(f'<th class="num">{_e(h)}</th>' if num else f"<th>{_e(h)}</th>" for h, num in head)
    return (f'<table id="{tid}" class="sortable"><thead><tr>{ths}</tr></thead><tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>")


def _bar(p: float) -> str:
    """A diverging mini-bar centred on PWS 1 (full scale = 0 .. 2), readable at a glance."""
    w = min(50.0, abs(p - 1.0) * 50.0)
    pos = f"left:50%;width:{w:.1f}%" if p >= 1 else f"left:{50 - w:.1f}%;width:{w:.1f}%"
    return f'<span class="track"><span class="fill {"pos" if p >= 1 else "neg"}" style="{pos}"></span></span>'


def leaderboard_table(df: pd.DataFrame) -> str:
    """One row per system (judge mean, pooled), best PWS first; per-test-set and per-judge PWS beside it."""
    main = df[(df["judge"] == MEAN_JUDGE) & (df["testset"] == POOLED)].copy()
    if main.empty:
        return "<p>No results.</p>"
    main["_p"] = main["pws"].fillna(-1.0)
    main = main.sort_values(["_p"] + KEY[:6], ascending=[False] + [True] * 6, kind="mergesort")
    testsets = sorted(t for t in df["testset"].unique() if t != POOLED)
    judges = sorted(j for j in df["judge"].unique() if j != MEAN_JUDGE)
    idx = df.set_index(KEY)["pws"]
    head = [("#", True), ("Selector", False), ("Regime", False), ("Dataset", False), ("Target model", False),
            ("Ratio", True), ("PWS", True), ("95% CI", True), ("Win", True), ("Tie", True), ("Lose", True),
            ("Failed", True), ("LC-PWS", True), ("LC 95% CI", True), ("Answer len sys", True),
            ("Answer len base", True), ("Train len", True), ("Pool len", True)] + [(f"PWS {t}", True) for t in testsets] + [(f"PWS by {j}", True) for j in judges]
    rows = []
    for rank, r in enumerate(main.itertuples(index=False), start=1):
        p, pk = _num(r.pws)
        trend = "up" if r.pws == r.pws and r.pws > 1 else "down" if r.pws == r.pws and r.pws < 1 else ""
        bar = _bar(r.pws) if pk else ""
        ci = (f"[{r.ci_low:.3f}, {r.ci_high:.3f}]", repr(float(r.ci_low))) if r.ci_low == r.ci_low else (MISSING_MD, "")
        cells = [_td(str(rank), str(rank), "num"), _td(_e(r.selector)), _td(_e(r.regime)), _td(_e(r.dataset)),
                 _td(_e(r.target_model)), _td(ratio_label(r.ratio), repr(float(r.ratio)), "num"),
                 _td(p + bar, pk, f"num pws {trend}".strip()), _td(ci[0], ci[1], "num"),
                 _td(str(int(r.wins)), str(int(r.wins)), "num"), _td(str(int(r.ties)), str(int(r.ties)), "num"),
                 _td(str(int(r.losses)), str(int(r.losses)), "num"), _td(str(int(r.failed)), str(int(r.failed)), "num")]
        lci = ((f"[{r.lc_ci_low:.3f}, {r.lc_ci_high:.3f}]", repr(float(r.lc_ci_low))) if r.lc_ci_low == r.lc_ci_low
               else (MISSING_MD, ""))
        cells += [_td(*_num(r.lc_pws), "num"), _td(lci[0], lci[1], "num")]
        cells += [_td(*_num(v, "{:.1f}"), "num") for v in (r.sys_len, r.base_len, r.train_len, r.pool_len)]
        base = (r.dataset, r.target_model, r.regime, r.protocol, r.selector, r.ratio)
        for t in testsets:
            cells.append(_td(*_num(idx.get(base + (MEAN_JUDGE, t), math.nan)), "num"))
        for j in judges:
            cells.append(_td(*_num(idx.get(base + (j, POOLED), math.nan)), "num"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table("leaderboard", head, rows)


def all_results_table(df: pd.DataFrame) -> str:
    head = [("Selector", False), ("Regime", False), ("Dataset", False), ("Target model", False), ("Ratio", True),
            ("Judge", False), ("Test set", False), ("N", True), ("Win", True), ("Tie", True), ("Lose", True),
            ("Failed", True), ("PWS", True), ("CI low", True), ("CI high", True), ("LC-PWS", True),
            ("LC CI low", True), ("LC CI high", True), ("Len sys", True), ("Len base", True)]
    rows = []
    for r in df.itertuples(index=False):
        cells = [_td(_e(r.selector)), _td(_e(r.regime)), _td(_e(r.dataset)), _td(_e(r.target_model)),
                 _td(ratio_label(r.ratio), repr(float(r.ratio)), "num"), _td(_e(r.judge)), _td(_e(r.testset))]
        cells += [_td(str(int(v)), str(int(v)), "num") for v in (r.n, r.wins, r.ties, r.losses, r.failed)]
        cells += [_td(*_num(v), "num") for v in (r.pws, r.ci_low, r.ci_high, r.lc_pws, r.lc_ci_low, r.lc_ci_high)]
        cells += [_td(*_num(v, "{:.1f}"), "num") for v in (r.sys_len, r.base_len)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table("all-results", head, rows)


def dict_table(tid: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """A sortable table from flat dicts (columns in first-seen order); floats to 3 decimals."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                cells.append(_td(_e("" if v is None else v)))
            elif isinstance(v, float):
                cells.append(_td(*_num(v), "num"))
            else:
                cells.append(_td(str(v), str(v), "num"))
        body.append("<tr>" + "".join(cells) + "</tr>")
    numeric = [all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows) for c in cols]
    return _table(tid, list(zip(cols, numeric)), body)


_LOSS_JS = """
(function(){
var el=document.getElementById('loss-data');if(!el)return;var D=JSON.parse(el.textContent);
var A=document.getElementById('loss-a'),B=document.getElementById('loss-b'),S=document.getElementById('loss-plot');
var W=640,H=300,L=56,R=16,T=12,Bm=40,C=['#1f77b4','#d62728'],NS='http://www.w3.org/2000/svg';
function mk(t,a,txt){var e=document.createElementNS(NS,t);for(var k in a)e.setAttribute(k,a[k]);
 if(txt!==undefined)e.textContent=txt;S.appendChild(e);return e;}
function draw(){while(S.firstChild)S.removeChild(S.firstChild);
 var sel=[A.value,B.value],pts=[].concat(D[sel[0]]||[],D[sel[1]]||[]);if(!pts.length)return;
 var x1=Math.max.apply(null,pts.map(function(p){return p[0];})),ys=pts.map(function(p){return p[1];});
 var y0=Math.min.apply(null,ys),y1=Math.max.apply(null,ys);if(y1===y0){y1+=1;}
 function X(v){return L+(W-L-R)*v/(x1||1);}function Y(v){return T+(H-T-Bm)*(1-(v-y0)/(y1-y0));}
 mk('line',{x1:L,y1:H-Bm,x2:W-R,y2:H-Bm,stroke:'#999'});mk('line',{x1:L,y1:T,x2:L,y2:H-Bm,stroke:'#999'});
 for(var i=0;i<=4;i++){var v=y0+(y1-y0)*i/4;mk('text',{x:L-6,y:Y(v)+4,'text-anchor':'end','font-size':11},v.toFixed(2));
  var s=Math.round(x1*i/4);mk('text',{x:X(s),y:H-Bm+16,'text-anchor':'middle','font-size':11},String(s));}
 mk('text',{x:(W+L)/2,y:H-6,'text-anchor':'middle','font-size':12},'step');
 sel.forEach(function(k,j){var d=D[k]||[];
  mk('polyline',{points:d.map(function(p){return X(p[0]).toFixed(1)+','+Y(p[1]).toFixed(1);}).join(' '),
   fill:'none',stroke:C[j],'stroke-width':1.6});
  mk('rect',{x:W-R-190,y:T+4+18*j,width:12,height:12,fill:C[j]});
  mk('text',{x:W-R-172,y:T+14+18*j,'font-size':12},k);});}
A.addEventListener('change',draw);B.addEventListener('change',draw);draw();
})();
"""


def loss_picker(logs: Mapping[str, str | Path]) -> str | None:
    """Training-loss curves of any two models, chosen from two menus (default: the 100% model and the first
    other one); the curves are embedded as JSON and drawn by inline JS into an SVG."""
    import json

    if not logs:
        return None
    data = {label: [[int(s) if float(s).is_integer() else round(s, 4), round(v, 5)]
                    for s, v in read_train_log(path)] for label, path in sorted(logs.items())}
    labels = list(data)
    first = next((k for k in labels if k == "full" or k.endswith(":full")), labels[0])
    gsnr = [k for k in labels if k.split(":")[-1].startswith("gsnr@")]
    second = gsnr[-1] if gsnr else next((k for k in labels if k != first), first)

    def menu(mid: str, chosen: str) -> str:
        opts = "".join(f'<option value="{_e(k)}"{" selected" if k == chosen else ""}>{_e(k)}</option>'
                       for k in labels)
        return f'<select id="{mid}">{opts}</select>'

    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return (f'<p>{menu("loss-a", first)} vs {menu("loss-b", second)}</p>'
            f'<svg id="loss-plot" class="plot" width="640" height="300" viewBox="0 0 640 300" '
            f'xmlns="http://www.w3.org/2000/svg"></svg>'
            f'<script type="application/json" id="loss-data">{payload}</script>'
            f"<script>{_LOSS_JS}</script>")


def render_html(df: pd.DataFrame, extras: PageExtras | None = None) -> str:
    """The whole page as a string (results df as parsed back from leaderboard.csv)."""
    ex = extras or PageExtras()
    judges = sorted(j for j in df["judge"].unique() if j != MEAN_JUDGE)
    testsets = sorted(t for t in df["testset"].unique() if t != POOLED)
    rounds = f", {ex.bootstrap_rounds} rounds" if ex.bootstrap_rounds else ""
    lead = (f"PWS = 1 + (W &minus; L) / N against the model trained on 100% of the data (1 = as good; failed "
            f"comparisons counted apart, not scored). 95% percentile bootstrap CI by question{rounds}. "
            f"Judges: {_e(', '.join(judges) or MISSING_MD)} (PWS shown is their mean). "
            f"Test sets: {_e(', '.join(testsets) or MISSING_MD)}, pooled. LC-PWS: the PWS predicted at zero "
            f"answer-length difference (judge preference modelled on the length difference and question "
            f"difficulty; same bootstrap). Lengths: answers in generated tokens, training responses in proxy "
            f"tokens.")
    parts = [f"<h1>{_e(ex.title)}</h1>", f'<p class="lead">{lead}</p>']
    if ex.notes:
        parts += [f'<p class="lead">{_e(line)}</p>' for line in ex.notes.splitlines()]
    parts += ["<h2>Leaderboard</h2>", f'<div class="wide">{leaderboard_table(df)}</div>']
    plots = [("PWS by ratio", pws_by_ratio_svg(df)), ("Win / tie / lose per test set (all judges)", wtl_svg(df)),
             ("Training loss (pick any two models)", loss_picker(ex.train_logs))]
    for title, svg in plots:
        if svg:
            parts += [f"<h2>{_e(title)}</h2>", f'<div class="card">{svg}</div>']
    for label, svg in ex.dynamics:
        parts += [f"<h2>{_e(f'Training dynamics: {label}')}</h2>", f'<div class="card">{svg}</div>']
    for tid, title, rows in (("sensitivity", "Controls: can the chain see data quality? (PWS differences, paired "
                              "bootstrap CI)", ex.sensitivity), ("health", "Selector health", ex.health),
                             ("stability", "Ranking stability over seeds", ex.stability),
                             ("bias", "Judge bias diagnostics", ex.bias), ("enrichment", "Enrichment of clean "
                             "examples (judge-free)", ex.enrichment), ("human", "Human labels: PWS", ex.human),
                             ("agreement", "Judge agreement with humans", ex.agreement),
                             ("lengths", "Selected data and response length (Spearman of score vs length)",
                              ex.lengths)):
        if rows:
            parts += [f"<h2>{_e(title)}</h2>", dict_table(tid, rows)]
    parts += ["<h2>All results</h2>",
              '<input class="filter" data-table="all-results" placeholder="filter rows (e.g. vicuna, gsnr)">',
              f'<div class="scroll">{all_results_table(df)}</div>']
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(ex.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
            f"<script>{_JS}</script>\n</body>\n</html>\n")
