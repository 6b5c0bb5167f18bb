#!/usr/bin/env node
// ort_bench.js - times ONNX Runtime (onnxruntime-node, CPU provider) on one model, the
// reference for bench_exec.c. Same arguments and same output format:
//
//   node bench/ort_bench.js MODEL.onnx [--batch 16] [--iters 10] [--threads 1] [--seed 1]
//                           [--input X.npy] [--check Y.npy [--tol 1e-3]]
//
// intraOpNumThreads = --threads, interOpNumThreads = 1, sequential execution, all graph
// optimisations (ONNX Runtime's defaults otherwise). One warm-up run, then --iters timed
// runs. The last line of stdout is "RESULT key=value ...".
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function usage() {
  process.stderr.write('usage: node ort_bench.js MODEL.onnx [--batch 16] [--iters 10] ' +
                       '[--threads 1] [--seed 1] [--input X.npy] [--check Y.npy [--tol 1e-3]]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = {model: null, batch: 16, iters: 10, threads: 1, seed: 1, input: null, check: null,
             tol: 1e-3};
  const ints = {'--batch': 'batch', '--iters': 'iters', '--threads': 'threads', '--seed': 'seed'};
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i], v = argv[i + 1];
    if (s in ints && v !== undefined && /^\d+$/.test(v)) {
      a[ints[s]] = parseInt(v, 10);
      i++;
    } else if ((s === '--input' || s === '--check') && v !== undefined) {
      a[s.slice(2)] = v;
      i++;
    } else if (s === '--tol' && v !== undefined && Number(v) > 0) {
      a.tol = Number(v);
      i++;
    } else if (!s.startsWith('-') && a.model === null) {
      a.model = s;
    } else {
      process.stderr.write(`ort_bench: bad argument '${s}'\n`);
      usage();
    }
  }
  if (a.model === null || a.batch < 1 || a.iters < 1 || a.threads < 1) usage();
  return a;
}

// Reads a little-endian float32 C-order .npy file (format 1.0, 2.0 or 3.0).
function loadNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: malformed .npy header`);
  if (descr[1] !== '<f4') throw new Error(`${file}: dtype ${descr[1]}, expected <f4`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const dims = shape[1].split(',').map((d) => d.trim()).filter((d) => d.length)
                   .map((d) => parseInt(d, 10));
  const numel = dims.reduce((p, d) => p * d, 1);
  const off = hstart + hlen;
  if (buf.length - off < numel * 4) throw new Error(`${file}: data is short`);
  const data = new Float32Array(numel);
  for (let i = 0; i < numel; i++) data[i] = buf.readFloatLE(off + 4 * i);
  return {dims, data};
}

// Seeded standard normal values (xorshift32 + Box-Muller): reproducible, not the same
// stream as bench_exec (pass --input to both for identical inputs).
function randomNormal(n, seed) {
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s + 1) / 4294967297;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())), t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

// Minimal protobuf walk (varints and length-delimited fields only): the shape of graph
// input `name` in an ONNX model, unknown or symbolic dims as -1. onnxruntime-node 1.20 does
// not expose input shapes. ModelProto.graph = 7, GraphProto.input = 11, ValueInfoProto
// name = 1 / type = 2, TypeProto.tensor_type = 1, Tensor.shape = 2, Shape.dim = 1,
// Dimension.dim_value = 1.
function modelInputShape(buf, name) {
  function* fields(b, start, end) {
    let p = start;
    const varint = () => {
      let v = 0, mul = 1, byte;
      do {
        byte = b[p++];
        v += (byte & 0x7f) * mul;
        mul *= 128;
      } while (byte & 0x80);
      return v;
    };
    while (p < end) {
      const key = varint(), field = Math.floor(key / 8), wire = key % 8;
      if (wire === 0) yield {field, value: varint()};
      else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const len = varint();
        yield {field, start: p, end: p + len};
        p += len;
      } else throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
  const sub = (r, want) => {
    for (const f of fields(buf, r.start, r.end)) if (f.field === want && f.end) return f;
    return null;
  };
  const graph = sub({start: 0, end: buf.length}, 7);
  if (!graph) return null;
  for (const f of fields(buf, graph.start, graph.end)) {
    if (f.field !== 11 || !f.end) continue;
    const nm = sub(f, 1);
    if (!nm || buf.toString('utf8', nm.start, nm.end) !== name) continue;
    const type = sub(f, 2), tensor = type && sub(type, 1), shape = tensor && sub(tensor, 2);
    if (!shape) return null;
    const dims = [];
    for (const d of fields(buf, shape.start, shape.end)) {
      if (d.field !== 1 || !d.end) continue;
      let v = -1;
      for (const g of fields(buf, d.start, d.end)) if (g.field === 1 && g.end === undefined) v = g.value;
      dims.push(v);
    }
    return dims;
  }
  return null;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  let t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, opts);
  const tLoad = Number(process.hrtime.bigint() - t0) / 1e9;
  const inName = session.inputNames[0], outName = session.outputNames[0];

  let x;
  if (a.input) {
    x = loadNpy(a.input);
    a.batch = x.dims[0];
  } else {
    const dims = modelInputShape(fs.readFileSync(a.model), inName);
    if (!dims || dims.length < 1) throw new Error(`${a.model}: unknown input shape (use --input)`);
    dims[0] = a.batch;
    if (dims.some((d) => d < 1)) {
      throw new Error(`${a.model}: input ${inName} has an unknown dimension (use --input)`);
    }
    x = {dims, data: randomNormal(dims.reduce((p, d) => p * d, 1), a.seed)};
  }
  const feeds = {[inName]: new ort.Tensor('float32', x.data, x.dims)};
  console.log(`model:        ${a.model} (session created in ${tLoad.toFixed(3)} s)`);
  console.log(`input:        ${inName} float32[${x.dims.join(', ')}] ` +
              `(${a.input || 'seeded random normal'})`);
  console.log(`runtime:      onnxruntime-node ${ort.env.versions.node}, CPU provider`);
  console.log(`threads:      intra-op ${a.threads}, inter-op 1`);

  t0 = process.hrtime.bigint();
  let out = await session.run(feeds);
  const tWarm = Number(process.hrtime.bigint() - t0) / 1e9;
  const y = out[outName];
  console.log(`warm-up:      ${tWarm.toFixed(3)} s, output ${outName} ` +
              `float32[${y.dims.join(', ')}]`);
  let maxAbs = -1, maxRel = -1, ok = true;
  if (a.check) {
    const ref = loadNpy(a.check);
    if (ref.data.length !== y.data.length) {
      throw new Error(`${a.check}: ${ref.data.length} values, output has ${y.data.length}`);
    }
    let worst = 0, range = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const d = Math.abs(y.data[i] - ref.data[i]);
      if (Number.isNaN(d)) worst = NaN;
      else if (d > worst) worst = d;
      range = Math.max(range, Math.abs(ref.data[i]));
    }
    maxAbs = worst;
    maxRel = range > 0 ? worst / range : worst;
    ok = maxRel <= a.tol;
    console.log(`check:        max abs err ${maxAbs.toPrecision(3)}, max rel err ` +
                `${maxRel.toPrecision(3)} (vs max |ref|), tol ${a.tol}: ${ok ? 'ok' : 'FAILED'}`);
  }

  const times = [];
  for (let it = 0; it < a.iters; it++) {
    t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const total = times.reduce((p, t) => p + t, 0);
  times.sort((p, q) => p - q);
  const ips = a.batch * a.iters / total;
  const rss = process.resourceUsage().maxRSS / 1024;  // kilobytes -> MiB
  console.log(`time:         ${(total / a.iters).toFixed(4)} s per batch of ${a.batch} (mean of ` +
              `${a.iters}; min ${times[0].toFixed(4)}, median ` +
              `${times[Math.floor(a.iters / 2)].toFixed(4)}, max ${times[a.iters - 1].toFixed(4)})`);
  console.log(`throughput:   ${ips.toFixed(2)} images/s`);
  console.log(`peak RSS:     ${rss.toFixed(1)} MiB (node process)`);
  console.log(`RESULT model=${a.model} batch=${a.batch} iters=${a.iters} threads=${a.threads} ` +
              `img_per_s=${ips.toFixed(3)} sec_per_batch=${(total / a.iters).toFixed(5)} ` +
              `peak_rss_mib=${rss.toFixed(1)} max_abs=${maxAbs} max_rel=${maxRel}`);
  await session.release();
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e.message}\n`);
  process.exit(1);
});
