"""The admin page at ``/``: the live stream table for people.

Theory of operation
-------------------
:data:`PAGE` is one self-contained HTML document (inline CSS and JavaScript,
no external asset, so it works on an air-gapped admin port). Its script
fetches ``/streams`` every second and redraws: the totals by reason at the top
(each a button that filters by that reason), then one row per open stream
(connection, side, peer, protocol, stream id, method and path, age, bytes each
way, the send windows of the stream and the connection, the receive window,
the reason and how long it has waited). Clicking a column header sorts by it
(again: reverse); the connection and reason selectors and the text box
filter; a link may preset them in the fragment
(``/#reason=handler&connection=CID&sort=age&desc=0``). A failed fetch shows
the error and the next refresh tries again. The server side only serves the
bytes; everything else runs in the browser.
"""

from __future__ import annotations

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mux: streams</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:12px;background:#fafafa;color:#222}
h1{font-size:18px;margin:0 0 8px}
#totals span{display:inline-block;margin:0 6px 6px 0;padding:3px 8px;border-radius:10px;
background:#e4e8ee;cursor:pointer}
#totals span.on{background:#3a6ea5;color:#fff}
#totals b{margin-left:4px}
#bar{margin:6px 0}
#bar select,#bar input{margin-right:10px;font:inherit}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;white-space:nowrap}
th{background:#eef1f5;cursor:pointer;user-select:none;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.w td.r{color:#a33;font-weight:600}
#status{color:#666;margin-left:8px}
#err{color:#a33}
</style></head><body>
<h1>mux: open streams and why they wait<span id="status"></span></h1>
<div id="totals"></div>
<div id="bar">connection <select id="conn"><option value="">all</option></select>
reason <select id="reason"><option value="">all</option></select>
filter <input id="text" size="24" placeholder="path, peer, ...">
<span id="err"></span></div>
<table><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table>
<script>
"use strict";
const COLS=[["cid","connection"],["side","side"],["peer","peer"],["protocol","proto"],
["stream_id","stream",1],["method","method"],["path","path"],["age","age s",1],
["bytes_in","bytes in",1],["bytes_out","bytes out",1],["send_window","send win",1],
["send_connection_window","conn send win",1],["receive_window","recv win",1],
["reason","waiting for"],["waiting","for s",1]];
let data={streams:[],totals:{}},sortKey="waiting",sortDesc=true;
const $=id=>document.getElementById(id);
function cell(v){return v===null||v===undefined?"-":String(v);}
function head(){
  $("head").innerHTML="";
  for(const [k,label] of COLS){
    const th=document.createElement("th");
    th.textContent=label+(k===sortKey?(sortDesc?" \\u25bc":" \\u25b2"):"");
    th.onclick=()=>{if(sortKey===k)sortDesc=!sortDesc;else{sortKey=k;sortDesc=false;}draw();};
    th.dataset.key=k;$("head").appendChild(th);
  }
}
function options(sel,values){
  const keep=sel.value,have=new Set([...sel.options].map(o=>o.value));
  for(const v of values){if(!have.has(v)){const o=document.createElement("option");
    o.value=v;o.textContent=v;sel.appendChild(o);}}
  sel.value=keep;
}
function draw(){
  head();
  const tot=$("totals");tot.innerHTML="";
  const all=document.createElement("span");
  all.innerHTML="streams<b>"+data.streams.length+"</b>";
  all.className=$("reason").value===""?"on":"";all.onclick=()=>{$("reason").value="";draw();};
  tot.appendChild(all);
  const conns=document.createElement("span");
  conns.innerHTML="connections<b>"+(data.connections||0)+"</b>";tot.appendChild(conns);
  for(const [r,n] of Object.entries(data.totals).sort((a,b)=>b[1]-a[1])){
    const s=document.createElement("span");s.className="total"+($("reason").value===r?" on":"");
    s.dataset.reason=r;s.innerHTML="";s.append(r);const b=document.createElement("b");
    b.textContent=n;s.appendChild(b);
    s.onclick=()=>{$("reason").value=$("reason").value===r?"":r;draw();};tot.appendChild(s);
  }
  options($("conn"),[...new Set(data.streams.map(r=>r.cid))]);
  options($("reason"),Object.keys(data.totals));
  const c=$("conn").value,r=$("reason").value,t=$("text").value.toLowerCase();
  let rows=data.streams.filter(x=>(!c||x.cid===c)&&(!r||x.reason===r)&&
    (!t||JSON.stringify(x).toLowerCase().includes(t)));
  rows.sort((a,b)=>{const x=a[sortKey],y=b[sortKey];
    const d=(typeof x==="number"&&typeof y==="number")?x-y:cell(x).localeCompare(cell(y));
    return sortDesc?-d:d;});
  const body=$("rows");body.innerHTML="";
  for(const x of rows){
    const tr=document.createElement("tr");tr.dataset.reason=x.reason;
    if(x.waiting>=1)tr.className="w";
    for(const [k,,num] of COLS){const td=document.createElement("td");
      td.textContent=cell(x[k]);if(num)td.className="n";if(k==="reason")td.className="r";
      tr.appendChild(td);}
    body.appendChild(tr);
  }
}
async function refresh(){
  try{
    const resp=await fetch("/streams",{cache:"no-store"});
    if(!resp.ok)throw new Error("HTTP "+resp.status);
    data=await resp.json();$("err").textContent="";
    $("status").textContent=" \\u00b7 updated "+new Date().toLocaleTimeString();
  }catch(e){$("err").textContent="refresh failed: "+e.message;}
  draw();
}
for(const id of ["conn","reason"])$(id).onchange=draw;
$("text").oninput=draw;
// A link may preset the view: #reason=handler&connection=d-...&sort=age&desc=0
const preset=new URLSearchParams(location.hash.slice(1));
for(const [key,id] of [["reason","reason"],["connection","conn"]]){
  const v=preset.get(key);if(v){options($(id),[v]);$(id).value=v;}}
if(preset.get("text"))$("text").value=preset.get("text");
if(COLS.some(c=>c[0]===preset.get("sort"))){sortKey=preset.get("sort");sortDesc=preset.get("desc")!=="0";}
refresh();setInterval(refresh,1000);
</script></body></html>
"""

#: The page's bytes (see the module docstring).
PAGE = _HTML.encode()
