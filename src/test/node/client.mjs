// The official openai client against steer4j serve: node client.mjs BASE_URL API_KEY MODEL VECTOR_JSON
// Prints one JSON object of what each call returned; OpenAiClientTest compares it with single runs.
import OpenAI from 'openai';

const [baseURL, apiKey, model, inlineJson] = process.argv.slice(2);
const inline = JSON.parse(inlineJson); // {module, values}
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const prompt = 'I think dogs are ';
const out = {};

// steer4j's own field goes in the body beside OpenAI's (Python's extra_body; node passes unknown keys through)
const plain = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, steer: [] });
out.plain = { text: plain.choices[0].text, finish: plain.choices[0].finish_reason, usage: plain.usage, object: plain.object };

const named = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0,
  steer: [{ vector: 'last', coef: 10, positions: 'all' }] });
out.named = { text: named.choices[0].text };

const stream = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, stream: true,
  stream_options: { include_usage: true }, steer: [{ module: inline.module, values: inline.values, coef: -10 }] });
let text = '';
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  for (const c of chunk.choices) {
    text += c.text;
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (chunk.usage) usage = chunk.usage;
}
out.streamed = { text, finish, usage, chunks };

const many = await client.completions.create({ model, prompt: [prompt, 'Today I feel'], n: 2, max_tokens: 5, temperature: 0 });
out.many = many.choices.map(c => ({ index: c.index, text: c.text }));

try {
  await client.completions.create({ model, prompt, max_tokens: 12, logprobs: 3 });
  out.refused = null;
} catch (e) {
  out.refused = { status: e.status, message: e.message, param: e.param ?? e.error?.param ?? null };
}

const models = await client.models.list();
out.models = models.data.map(m => m.id);
console.log(JSON.stringify(out));
