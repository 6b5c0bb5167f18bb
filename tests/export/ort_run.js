#!/usr/bin/env node
// ort_run.js - runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU provider) on .npy
// inputs and writes the outputs as .npy files. Used by the exporter tests.
//
//   node tests/export/ort_run.js MODEL.onnx --in NAME=FILE.npy ... --out NAME=FILE.npy ...
//                                [--opt disabled|basic|extended|all] [--threads 1]
//
// .npy: format 1.0/2.0/3.0, little-endian, C order; dtypes f4, f8, i1, u1, i4, i8, u8 read,
// and the output tensor's own dtype written (format 1.0). Exit status 0 on success, 1 on
// any error (message on stderr).
'use strict';

const fs = require('fs');
const path = require('path');

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array], '<i4': ['int32', Int32Array],
  '<i8': ['int64', BigInt64Array], '<u8': ['uint64', BigUint64Array],
  '|b1': ['bool', Uint8Array],
};

function fail(msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(1);
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) fail(`${file}: malformed .npy header`);
  let d = descr[1];
  if (d === '<i1' || d === '<u1') d = '|' + d.slice(1);
  const t = NPY_TYPES[d];
  if (!t) fail(`${file}: unsupported dtype ${descr[1]}`);
  if (fortran[1] === 'True') fail(`${file}: Fortran order is not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length)
                   .map((s) => parseInt(s, 10));
  const numel = dims.reduce((p, x) => p * x, 1);
  const off = hstart + hlen;
  const bytes = numel * t[1].BYTES_PER_ELEMENT;
  if (buf.length - off < bytes) fail(`${file}: data is short`);
  const copy = new ArrayBuffer(bytes); // aligned copy (buf's offset may be unaligned)
  new Uint8Array(copy).set(buf.subarray(off, off + bytes));
  let data = new t[1](copy);
  if (t[0] === 'bool') data = Uint8Array.from(data).map((v) => (v ? 1 : 0));
  return {type: t[0], dims, data};
}

function writeNpy(file, tensor) {
  const rev = {float32: '<f4', float64: '<f8', int8: '|i1', uint8: '|u1', int32: '<i4',
               int64: '<i8', uint64: '<u8', bool: '|b1'};
  const descr = rev[tensor.type];
  if (!descr) fail(`${file}: cannot write dtype ${tensor.type}`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? `${dims[0]},` : dims.join(', ');
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape}), }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  const d = tensor.data;
  const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(h, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

function parseArgs(argv) {
  const a = {model: null, ins: [], outs: [], opt: 'all', threads: 1};
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i], v = argv[i + 1];
    if ((s === '--in' || s === '--out') && v !== undefined && v.includes('=')) {
      const k = v.lastIndexOf('=');
      (s === '--in' ? a.ins : a.outs).push([v.slice(0, k), v.slice(k + 1)]);
      i++;
    } else if (s === '--opt' && ['disabled', 'basic', 'extended', 'all'].includes(v)) {
      a.opt = v;
      i++;
    } else if (s === '--threads' && /^\d+$/.test(v || '')) {
      a.threads = parseInt(v, 10);
      i++;
    } else if (!s.startsWith('-') && a.model === null) {
      a.model = s;
    } else {
      fail(`bad argument '${s}' (usage: ort_run.js MODEL --in N=F.npy ... --out N=F.npy ... ` +
           '[--opt disabled|basic|extended|all] [--threads N])');
    }
  }
  if (!a.model || a.outs.length === 0) fail('need a model and at least one --out');
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    fail(`onnxruntime-node is not installed (cd ${path.dirname(__filename)} && ` +
         `ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install onnxruntime-node@1.20.1): ${e.message}`);
  }
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'], graphOptimizationLevel: a.opt,
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const feeds = {};
  for (const [name, file] of a.ins) {
    if (!session.inputNames.includes(name)) {
      fail(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    const t = readNpy(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const names = a.outs.map(([n]) => n);
  for (const n of names) {
    if (!session.outputNames.includes(n)) {
      fail(`model has no output '${n}' (outputs: ${session.outputNames.join(', ')})`);
    }
  }
  const res = await session.run(feeds, names);
  for (const [name, file] of a.outs) writeNpy(file, res[name]);
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
