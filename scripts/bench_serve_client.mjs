// The load of bench-serve.sh: steer4j request lines sent to steer4j serve by C concurrent clients, half of them
// streamed, as OpenAI completions with steer4j's "steer" field; latency per request, throughput overall.
//   node scripts/bench_serve_client.mjs BASE_URL REQUESTS.jsonl CONCURRENCY > result.json
import { readFileSync } from 'node:fs';

const [base, file, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const lines = readFileSync(file, 'utf8').split('\n').filter(l => l.trim());
const requests = lines.map((l, i) => {
  const r = JSON.parse(l);
  // a steer entry names a vector file of the server's --vectors folder by its name
  const steer = (r.steer ?? []).map(s => ({ vector: s.file.replace(/\.(safetensors|gguf)$/, ''), coef: s.coef ?? 1,
    ...(s.positions ? { positions: s.positions } : {}), ...(s.module ? { module: s.module } : {}) }));
  return { id: r.id ?? String(i + 1), stream: i % 2 === 0,
    body: { prompt: r.prompt, max_tokens: r.max_new_tokens ?? 20, temperature: 0, steer } };
});

async function one(r) {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...r.body, stream: r.stream, ...(r.stream ? { stream_options: { include_usage: true } } : {}) }) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`request ${r.id}: ${res.status} ${body}`);
  let text = '';
  let tokens = 0;
  if (r.stream) {
    for (const line of body.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const chunk = JSON.parse(line.slice(6));
      for (const c of chunk.choices) text += c.text;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  } else {
    const json = JSON.parse(body);
    text = json.choices[0].text;
    tokens = json.usage.completion_tokens;
  }
  return { id: r.id, text, tokens, ms: performance.now() - t0 };
}

const results = [];
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < requests.length) results.push(await one(requests[next++]));
}));
const seconds = (performance.now() - t0) / 1000;
const ms = results.map(r => r.ms).sort((a, b) => a - b);
const pct = p => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
const tokens = results.reduce((s, r) => s + r.tokens, 0);
console.log(JSON.stringify({ requests: results.length, concurrency, seconds, new_tokens: tokens, tokens_per_s: tokens / seconds,
  p50_ms: pct(0.5), p99_ms: pct(0.99), texts: Object.fromEntries(results.map(r => [r.id, r.text])) }));
