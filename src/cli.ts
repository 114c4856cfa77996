#!/usr/bin/env node
/**
 * triton-vision: the nodes' pipeline from a terminal — check a model before
 * building a flow, or script it. One line of JSON per image with --json
 * (exactly the nodes' msg.payload), a readable table otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { clientOptionsFromUrl, createClient, ReplicaClient, type ClientOptions } from './client';
import { countRetries, type RetryTally } from './client/retry';
import { isTritonError, TritonError } from './protocol/errors';
import { trackMain } from './cli-track';
import type { InferenceClient } from './protocol/types';
import {
  ProfileCache,
  runTask,
  runTaskBatchSettled,
  type TaskOptions,
  type TaskResult,
} from './vision/pipeline';
import type { Task } from './vision/types';
import { TASK_OPTIONS, check, type TaskOption } from './shared/options';
import { wrapUint8Main } from './tools/wrap-uint8';

const T = TASK_OPTIONS;

const USAGE = `Usage: triton-vision <detect|segment|classify> --model NAME
         (--model-repository DIR | --url grpc://host:8001 | --url http://host:8000)
         [options] IMAGE...
       triton-vision track --help   (tracking, counting lines and zones over detect JSON lines)

  --model NAME            model to run
  --model-version V       model version (default: the latest)
  --model-repository DIR  run locally on CPU from a Triton model repository folder
  --url URL               a Triton / KServe v2 server: grpc://, grpcs://, http://, https://
                          (an http:// path is the API's prefix behind an ingress; give
                          --url several times for replicas of one deployment: requests go
                          to the least busy one, failed ones are retried on another; an
                          unavailable or busy server, or a 502/503/504, is retried with
                          backoff within --timeout, with one --url too)
  --header 'Name: value'  extra header / gRPC metadata (repeatable; e.g. authorization)
  --ca FILE               PEM CA bundle to trust for grpcs:// or https://
  --timeout SECONDS       per-request deadline (default 30)
  --conf X                confidence threshold (default ${T.confidence.default})
  --iou X                 NMS IoU threshold (default ${T.iou.default})
  --max-det N             most detections per image (default ${T.maxDetections.default})
  --classes a,b           only these class labels or ids
  --agnostic              class-agnostic NMS
  --top-k K               classes to report for classify (default ${T.topK.default})
  --resize exact|fast     exact (default): the reference tools' resize, bit for bit;
                          fast: libvips shrink-on-load, cheaper on big photos, a little off
  --icc ignore|apply      embedded colour profile: ignore (default, as cv2.imread / PIL)
                          or apply (convert to sRGB)
  --preprocess P          classify: torchvision or onnx-zoo (default: the model config's
                          preprocess parameter, else torchvision)
  --rle                   segment: add COCO RLE masks to the JSON
  --annotate OUT.jpg      write the image with results drawn (OUT-2.jpg, ... for more images)
  --batch                 send the images in batched requests, as many per request as the
                          model's max_batch_size allows (same results as one by one)
  --json                  one line of JSON per image (the Node-RED msg.payload)
  -h, --help              this help

       triton-vision wrap-uint8 MODEL.onnx --repository DIR --name NAME --normalise yolo|imagenet|none
         gives an exported ONNX model a UINT8 image input (wrap-uint8 --help)`;

class UsageError extends Error {}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} needs a number, got '${v}'`);
  return n;
}

/** A choice option checked by the node option's rule, so the CLI accepts what the nodes do. */
function choice<V extends string>(
  name: string,
  field: TaskOption,
  v: string | undefined,
): V | undefined {
  if (v === undefined) return undefined;
  const problem = check(TASK_OPTIONS, field, v);
  if (problem) throw new UsageError(`--${name} ${problem.replace(/^'[^']+' /, '')}`);
  return v as V;
}

function annotatePath(base: string, index: number): string {
  if (index === 0) return base;
  const ext = path.extname(base);
  return `${base.slice(0, base.length - ext.length)}-${index + 1}${ext}`;
}

function table(file: string, r: TaskResult, retries = 0): string {
  const retried = retries > 0 ? `, ${retries} ${retries === 1 ? 'retry' : 'retries'}` : '';
  const lines = [
    `${file}: ${r.image.width}x${r.image.height}, ${r.model.name} v${r.model.version} (${r.model.family}, ${r.model.backend}), ${r.timings.totalMs.toFixed(1)} ms${retried}`,
  ];
  if (r.classes) {
    for (const c of r.classes)
      lines.push(`  ${c.score.toFixed(3)}  ${String(c.classId).padStart(4)}  ${c.label}`);
  }
  if (r.detections) {
    if (r.detections.length === 0) lines.push('  (nothing found)');
    for (const d of r.detections) {
      const b = d.box;
      const area = d.mask ? `  mask ${d.mask.area} px` : '';
      lines.push(
        `  ${d.score.toFixed(3)}  ${d.label.padEnd(14)} [${b.x1.toFixed(0)}, ${b.y1.toFixed(0)}, ${b.x2.toFixed(0)}, ${b.y2.toFixed(0)}]${area}`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * The pipeline's sentences are written for the nodes ("pick a classify model in this
 * node"); a terminal user hears them in the CLI's terms.
 */
export function cliWording(message: string): string {
  return message
    .replace(
      /is a (\w+) model; pick a (\w+) model in this node/,
      'is a $1 model: run `triton-vision $1` with it, or give --model a $2 model',
    )
    .replace(/fix it in the node or in msg\.triton/g, 'fix that option on the command line')
    .replace(/ or raise the node's maximum image size/g, '')
    .replace(/Redeploy to read its metadata again/g, 'Run the command again');
}

/** NOT_FOUND names what is there, so the next try can be right. */
async function withModelsThere(e: TritonError, client: InferenceClient): Promise<string> {
  if (e.code !== 'NOT_FOUND') return e.message;
  try {
    const names = [...new Set((await client.repositoryIndex()).map((m) => m.name))].sort();
    return `${e.message} (models there: ${names.length > 0 ? names.join(', ') : 'none'})`;
  } catch {
    return e.message;
  }
}

/** The JSON the nodes put in msg.payload (no Buffers in it). */
function payload(r: TaskResult, rle: boolean): unknown {
  const { annotated: _annotated, ...rest } = r;
  if (!rest.detections) return rest;
  return {
    ...rest,
    detections: rest.detections.map((d) => {
      if (!d.mask) return d;
      const { png: _png, rle: maskRle, polygons: _polygons, ...mask } = d.mask;
      return { ...d, mask: rle && maskRle ? { ...mask, rle: maskRle } : mask };
    }),
  };
}

export async function main(argv: string[], out = process.stdout): Promise<number> {
  if (argv[0] === 'track') return trackMain(argv.slice(1), out);
  if (argv[0] === 'wrap-uint8') return wrapUint8Main(argv.slice(1), out);
  let client: InferenceClient | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        'model-version': { type: 'string' },
        'model-repository': { type: 'string' },
        url: { type: 'string', multiple: true },
        header: { type: 'string', multiple: true },
        ca: { type: 'string' },
        timeout: { type: 'string' },
        conf: { type: 'string' },
        iou: { type: 'string' },
        'max-det': { type: 'string' },
        classes: { type: 'string' },
        agnostic: { type: 'boolean' },
        'top-k': { type: 'string' },
        resize: { type: 'string' },
        icc: { type: 'string' },
        preprocess: { type: 'string' },
        rle: { type: 'boolean' },
        annotate: { type: 'string' },
        json: { type: 'boolean' },
        batch: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out.write(`${USAGE}\n`);
      return 0;
    }
    const [task, ...images] = positionals;
    if (task !== 'detect' && task !== 'segment' && task !== 'classify') {
      throw new UsageError(
        `the first word must be detect, segment or classify${task ? `, not '${task}'` : ''}`,
      );
    }
    if (!values.model) throw new UsageError('--model is required');
    if (images.length === 0) throw new UsageError('give at least one IMAGE file');
    const urls = values.url ?? [];
    if (urls.length > 0 === !!values['model-repository']) {
      throw new UsageError('give exactly one of --url or --model-repository');
    }
    const timeoutS = num('timeout', values.timeout) ?? 30;
    let clientOptions: ClientOptions[];
    if (urls.length > 0) {
      const headers: Record<string, string> = {};
      for (const h of values.header ?? []) {
        const i = h.indexOf(':');
        if (i <= 0) throw new UsageError(`--header must look like 'Name: value', got '${h}'`);
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      const tls = values.ca ? { tls: { ca: fs.readFileSync(values.ca) } } : {};
      clientOptions = urls.map((u) =>
        clientOptionsFromUrl(u, { headers, timeoutMs: timeoutS * 1000, ...tls }),
      );
    } else {
      clientOptions = [
        { mode: 'local', modelRepository: values['model-repository']!, timeoutMs: timeoutS * 1000 },
      ];
    }
    const options: TaskOptions = {
      expectTask: task as Task,
      cache: new ProfileCache(),
      timeoutMs: timeoutS * 1000,
      annotate: !!values.annotate,
      rle: !!values.rle,
    };
    const set = <K extends keyof TaskOptions>(k: K, v: TaskOptions[K] | undefined): void => {
      if (v !== undefined) options[k] = v;
    };
    set('version', values['model-version']);
    set('confidence', num('conf', values.conf));
    set('iou', num('iou', values.iou));
    set('maxDetections', num('max-det', values['max-det']));
    set('topK', num('top-k', values['top-k']));
    set('agnostic', values.agnostic);
    set('resize', choice('resize', 'resizeMode', values.resize));
    set('icc', choice('icc', 'icc', values.icc));
    const preset = choice<'auto' | 'torchvision' | 'onnx-zoo'>(
      'preprocess',
      'preprocess',
      values.preprocess,
    );
    if (preset && preset !== 'auto') options.preprocess = preset;
    if (values.classes) {
      options.classes = values.classes
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    }

    // Remote servers get retries (and failover between several --url) from the replica client.
    client =
      urls.length > 0
        ? new ReplicaClient(clientOptions.map(createClient), { timeoutMs: timeoutS * 1000 })
        : createClient(clientOptions[0]!);
    const readImage = async (file: string): Promise<Buffer> => {
      try {
        return await fs.promises.readFile(file);
      } catch (err) {
        throw new TritonError(
          'INVALID_INPUT',
          `Cannot read image file '${file}': ${(err as Error).message}`,
        );
      }
    };
    const model = values.model;
    const run = client;
    let failures = 0;
    const report = async (
      i: number,
      file: string,
      outcome: PromiseSettledResult<TaskResult>,
      retries = 0,
    ): Promise<void> => {
      try {
        if (outcome.status === 'rejected') throw outcome.reason;
        const result = outcome.value;
        if (values.annotate && result.annotated) {
          await fs.promises.writeFile(annotatePath(values.annotate, i), result.annotated);
        }
        out.write(
          values.json
            ? `${JSON.stringify(payload(result, !!values.rle))}\n`
            : `${table(file, result, retries)}\n`,
        );
      } catch (err) {
        failures++;
        const e = isTritonError(err)
          ? err
          : new TritonError('UNKNOWN', String((err as Error)?.message ?? err));
        const text = cliWording(await withModelsThere(e, run));
        process.stderr.write(`triton-vision: ${file}: ${e.code}: ${text}\n`);
      }
    };
    if (values.batch) {
      // Unreadable files fail on their own; the rest go out in batched requests.
      const read = await Promise.allSettled(images.map(readImage));
      const readable = read.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const ran: PromiseSettledResult<TaskResult>[] =
        readable.length === 0
          ? []
          : await runTaskBatchSettled(run, model, readable, options).catch((reason: unknown) =>
              readable.map((): PromiseRejectedResult => ({ status: 'rejected', reason })),
            );
      let next = 0;
      for (const [i, file] of images.entries()) {
        const r = read[i]!;
        await report(i, file, r.status === 'rejected' ? r : ran[next++]!);
      }
    } else {
      for (const [i, file] of images.entries()) {
        const tally: RetryTally = { retries: 0 };
        const outcome = await countRetries(tally, () =>
          readImage(file).then((bytes) => runTask(run, model, bytes, options)),
        ).then(
          (value): PromiseSettledResult<TaskResult> => ({ status: 'fulfilled', value }),
          (reason: unknown): PromiseSettledResult<TaskResult> => ({ status: 'rejected', reason }),
        );
        await report(i, file, outcome, tally.retries);
      }
    }
    // Retries are the servers' business, not the results': a note on stderr, not in the JSON.
    const retries = run instanceof ReplicaClient ? run.status().stats.retries : 0;
    if (retries > 0) {
      process.stderr.write(
        `triton-vision: ${retries} ${retries === 1 ? 'request was' : 'requests were'} sent again after the server was unavailable or busy\n`,
      );
    }
    return failures === 0 ? 0 : 1;
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`triton-vision: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    const e = isTritonError(err)
      ? err
      : new TritonError('UNKNOWN', String((err as Error)?.message ?? err));
    process.stderr.write(`triton-vision: ${e.code}: ${cliWording(e.message)}\n`);
    return 1;
  } finally {
    await client?.close();
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
