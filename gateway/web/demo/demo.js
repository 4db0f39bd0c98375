// The chat demo's code (demo/index.html), on the Shoal client (/shoal.js). One client per tab,
// connected to this page's own server (ws:// or wss:// as the page came). Joining subscribes to
// chat.<room> with since: 0, so the server replays what its history holds of the room, then live
// messages follow; across reconnections the client resumes from the last sequence number, so
// nothing is shown twice or out of order. A reset (the server no longer holds what followed our
// last message, e.g. it restarted) and a gap (messages skipped for a slow tab) are shown as
// notices. Every text goes into the page as text, never as HTML.
import { ShoalClient } from "/shoal.js";

const $ = (id) => document.getElementById(id);
const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
const STATE_TEXT = {
  connecting: "connecting…",
  open: "open",
  reconnecting: "reconnecting…",
  closed: "closed",
};

const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
const client = new ShoalClient(url, { reconnect: { minDelay: 250, maxDelay: 5000 } });
let name = "";
let topic = "";
let subscription = null;
// Sequence numbers restart after a reset (a new server numbers the room from 1 again): each run
// of numbers is an epoch, so an element is identified by data-epoch and data-seq together.
let epoch = 0;

function showStats() {
  const el = $("stats");
  for (const [k, v] of Object.entries(client.stats)) el.dataset[k] = String(v);
  el.textContent = `· ${client.stats.messages} messages, ${client.stats.reconnects} reconnects`;
}

function notice(kind, text) {
  const li = document.createElement("li");
  li.dataset.kind = kind;
  li.dataset.at = new Date().toISOString();
  li.textContent = `${new Date().toLocaleTimeString()} — ${text}`;
  $("notices").prepend(li);
  showStats();
}

function separator(text) {
  const li = document.createElement("li");
  li.className = "separator";
  li.textContent = text;
  $("messages").append(li);
}

// A message's author and text: the demo sends {name, text}; other publishers may send any JSON.
function parts(data) {
  if (data && typeof data === "object" && typeof data.text === "string")
    return [typeof data.name === "string" ? data.name : "?", data.text];
  return ["?", typeof data === "string" ? data : JSON.stringify(data)];
}

function show(msg) {
  const [author, text] = parts(msg.data);
  const list = $("messages");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  const li = document.createElement("li");
  li.dataset.seq = String(msg.seq);
  li.dataset.epoch = String(epoch);
  li.dataset.author = author;
  if (author === name) li.className = "mine";
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = `#${msg.seq}`;
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = author;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(seq, who, body);
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
  showStats();
}

client.on("state", (state) => {
  const el = $("state");
  el.dataset.state = state;
  el.textContent = STATE_TEXT[state] ?? state;
  showStats();
});

client.on("reset", (e) => {
  if (e.topic !== topic) return;
  epoch += 1;
  const lost = e.since > e.seq
    ? `the server no longer knows messages after #${e.since} (it restarted or forgot the room); new messages are numbered from #${e.seq + 1}`
    : `messages after #${e.since} are no longer in the server's history (it holds from #${e.oldest})`;
  notice("reset", `History gone: ${lost}.`);
  separator("— history gone —");
});

client.on("gap", (e) => {
  if (e.topic !== topic) return;
  const why = e.announced === false ? "a jump in numbering no notice explained" : "this tab fell behind";
  notice("gap", `Messages #${e.from} to #${e.to} were skipped (${why}).`);
  separator(`— #${e.from}…#${e.to} skipped —`);
});

client.on("error", (err) => notice("error", `${err.code ?? "error"}: ${err.message}`));

async function join(who, room) {
  name = who;
  topic = `chat.${room}`;
  $("room-title").textContent = `· ${room}`;
  document.title = `${room} · Shoal chat demo`;
  $("join-form").hidden = true;
  $("chat").hidden = false;
  $("messages").replaceChildren();
  $("chat").dataset.topic = topic;
  $("chat").dataset.joined = "false";
  const params = new URLSearchParams(location.search);
  params.set("name", who);
  params.set("room", room);
  history.replaceState(null, "", `?${params}`);
  try {
    subscription = await client.subscribe(topic, show, { since: 0 });
    $("chat").dataset.joined = "true";
    $("text").focus();
  } catch (err) {
    notice("error", `could not join ${topic}: ${err.message}`);
    leave();
  }
}

function leave() {
  subscription?.unsubscribe();
  subscription = null;
  topic = "";
  $("chat").hidden = true;
  $("chat").dataset.joined = "false";
  $("join-form").hidden = false;
  $("room-title").textContent = "";
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const who = $("name").value.trim();
  const room = $("room").value.trim();
  if (!who || !ROOM.test(room)) {
    notice("error", "a name, and a room of letters, digits, _ and - please");
    return;
  }
  join(who, room);
});

$("send-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text.trim() || !topic) return;
  $("text").value = "";
  try {
    await client.publish(topic, { name, text });  // shown when it comes back, in order
  } catch (err) {
    // connection_lost: sent, but the connection dropped before the answer; it may have arrived.
    notice("error", `“${text}” ${err.code === "connection_lost" ? "may not have been sent" : "was not sent"}: ${err.message}`);
  }
});

$("leave").addEventListener("click", leave);

// ?name=alice&room=lobby prefills the form (and is kept up to date once joined, so a reload
// or a shared link comes back to the same room).
const params = new URLSearchParams(location.search);
if (params.get("name")) $("name").value = params.get("name");
if (params.get("room")) $("room").value = params.get("room");
if (params.get("name") && ROOM.test(params.get("room") ?? "")) join(params.get("name").trim(), params.get("room"));
