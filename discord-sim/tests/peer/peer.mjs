// An independent client (discord.js's gateway and REST packages) against the simulator:
// /gateway/bot via REST, zlib-stream transport, identify, a voice event, op 7 and resume.
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';

const base = process.env.SIM_BASE;
const control = process.env.SIM_CONTROL_TOKEN;
const seen = [];
const fail = (why) => { console.error(`PEER FAIL: ${why}; saw ${seen.join(',')}`); process.exit(1); };
setTimeout(() => fail('timeout'), 20000);

const post = (path, body) => fetch(`${base}/_sim${path}`, {
  method: 'POST',
  headers: { authorization: `Bearer ${control}`, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const rest = new REST({ api: `${base}/api`, version: '10' }).setToken(process.env.SIM_BOT_TOKEN);
const manager = new WebSocketManager({
  token: process.env.SIM_BOT_TOKEN,
  intents: 129,
  rest,
  compression: CompressionMethod.ZlibNative,
});
let step = 0;
manager.on(WebSocketShardEvents.Dispatch, async (event) => {
  const { t, d } = event.data ?? event;
  seen.push(t);
  if (t === 'GUILD_CREATE' && step === 0) {
    step = 1;
    if (!Array.isArray(d.voice_states) || d.voice_states.length === 0) fail('no voice states');
    const res = await post('/voice/join', { user_id: process.env.SIM_BOB, channel_id: process.env.SIM_LOBBY });
    if (res.status !== 204) fail(`join answered ${res.status}`);
  } else if (t === 'VOICE_STATE_UPDATE' && step === 1) {
    step = 2;
    if (d.user_id !== process.env.SIM_BOB) fail('wrong user');
    await post('/gateway/faults', { fault: { kind: 'reconnect' } });
  } else if (t === 'RESUMED' && step === 2) {
    const me = await rest.get('/users/@me');
    if (!me.bot) fail('users/@me is not the bot');
    console.log(`PEER OK ${seen.join(',')}`);
    process.exit(0);
  }
});
manager.on(WebSocketShardEvents.Error, (e) => fail(`error ${e?.error ?? e}`));
await manager.connect();
