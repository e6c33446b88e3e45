(function(){
function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent.trim();
 if(v===''||v==='\u2013')return null;var f=parseFloat(v);return isNaN(f)||!/^[-+0-9.eE]+$/.test(v)?v.toLowerCase():f;}
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var asc=!th.classList.contains('sorted-asc');
  t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  Array.prototype.forEach.call(t.tBodies,function(body){  // each group (tbody) sorts on its own
  var rows=Array.prototype.filter.call(body.rows,function(r){return !r.classList.contains('group');});
  rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
   if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
   if(typeof x!==typeof y){x=String(x);y=String(y);}
   return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(function(r){body.appendChild(r);});});});});});
document.querySelectorAll('input.filter').forEach(function(inp){inp.addEventListener('input',function(){
 var q=inp.value.toLowerCase(),t=document.getElementById(inp.getAttribute('data-table'));
 Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
  r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
var m=/sort=(\d+)(-desc)?/.exec(location.hash);var lb=document.getElementById('leaderboard');
if(m&&lb){var th=lb.querySelectorAll('th')[+m[1]];if(th){th.click();if(m[2])th.click();}}
document.body.setAttribute('data-ready','1');
})();
