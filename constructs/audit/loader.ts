import { closeSync, lstatSync, openSync, readSync, readdirSync, statSync } from 'fs';
import { basename, join } from 'path';
import { YAMLMap, YAMLSeq, parseAllDocuments } from 'yaml';
import type { CollectionTag, ScalarTag } from 'yaml';

/** One parsed document of one input: a Kubernetes object, a List, or a template. */
export interface SourceDocument {
  /** The file it came from (`-` for standard input). */
  readonly file: string;
  /** Its position in the file, from 0. */
  readonly index: number;
  /** The parsed value. */
  readonly value: unknown;
  /** The line the document starts on, from 1. @default 1 */
  readonly line?: number;
}

/** An input that could not be used, with the reason. */
export interface InputProblem {
  /** The file (`-` for standard input). */
  readonly file: string;
  /** The document, when the problem is one document of a readable file. */
  readonly document?: number;
  /** What is wrong, in one line. */
  readonly message: string;
}

/** What {@link loadPaths} read. */
export interface LoadResult {
  /** Every document parsed. */
  readonly documents: SourceDocument[];
  /** Every file or document that could not be used. */
  readonly problems: InputProblem[];
  /** Files read. */
  readonly files: string[];
  /** Files passed over because they are not manifests or templates (cdk.out bookkeeping). */
  readonly skipped: string[];
}

/** Limits on hostile input. */
export interface LoadLimits {
  /** Largest file read, in bytes. @default 16 MiB */
  readonly maxFileBytes?: number;
  /** Most YAML alias expansions in one document. @default 100 */
  readonly maxAliasCount?: number;
  /** Most documents in one file. @default 10000 */
  readonly maxDocuments?: number;
}

/** The default size cap of one input file, in bytes. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

const EXTENSIONS = /\.(ya?ml|json)$/i;

/**
 * cdk.out files that are not templates: the cloud assembly manifest, the construct tree,
 * asset manifests, metadata and the policy validation report. Passed over, also when named on the command line.
 */
export function isCloudAssemblyBookkeeping(file: string): boolean {
  const name = basename(file);
  return (
    name === 'manifest.json' ||
    name === 'tree.json' ||
    name === 'cdk.out' ||
    name === 'validation-report.json' ||
    /\.assets\.json$/.test(name) ||
    /\.metadata\.json$/.test(name)
  );
}

// ---- CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...) as their long form. ----

const FUNCTIONS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'Equals',
  'If',
  'Not',
  'Or',
  'ToJsonString',
  'Length',
];

/**
 * A short-form tag resolves to its long form as plain data. A collection's items are
 * converted without alias context: an alias inside a tagged collection is refused (the
 * document becomes a problem), which also keeps alias expansion bounded.
 */
function cfnTags(): (ScalarTag | CollectionTag)[] {
  const tags: (ScalarTag | CollectionTag)[] = [];
  const add = (tag: string, key: string, scalar: (s: string) => unknown = (s) => s) => {
    tags.push({ tag, resolve: (s: string) => ({ [key]: scalar(s) }) } as ScalarTag);
    for (const collection of ['seq', 'map'] as const) {
      tags.push({
        tag,
        collection,
        resolve: (node: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [key]: node.toJSON() }),
      } as CollectionTag);
    }
  };
  add('!Ref', 'Ref');
  add('!Condition', 'Condition');
  add('!GetAtt', 'Fn::GetAtt', (s) => {
    const dot = s.indexOf('.');
    return dot < 0 ? [s] : [s.slice(0, dot), s.slice(dot + 1)];
  });
  for (const fn of FUNCTIONS) add(`!${fn}`, `Fn::${fn}`);
  return tags;
}

const CFN_TAGS = cfnTags();

function isBinary(bytes: Buffer): boolean {
  if (bytes.subarray(0, 8192).includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return false;
  } catch {
    return true;
  }
}

/**
 * Parses the text of one input into documents: JSON, or YAML with one or more documents
 * (CloudFormation short-form tags understood). Each bad document is one problem; the good
 * ones are still returned.
 */
export function parseText(
  text: string,
  file: string,
  limits: LoadLimits = {},
): { documents: SourceDocument[]; problems: InputProblem[] } {
  const documents: SourceDocument[] = [];
  const problems: InputProblem[] = [];
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      documents.push({ file, index: 0, value: JSON.parse(trimmed) });
      return { documents, problems };
    } catch {
      // Not JSON after all (a YAML flow mapping, or broken): YAML reports it below.
    }
  }
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { customTags: CFN_TAGS, prettyErrors: false });
  } catch (e) {
    problems.push({ file, message: `not YAML: ${oneLine(e)}` });
    return { documents, problems };
  }
  if (!Array.isArray(docs)) {
    // An empty stream parses to an empty list; this is the stream-level error form.
    problems.push({ file, message: 'not YAML' });
    return { documents, problems };
  }
  const maxDocuments = limits.maxDocuments ?? 10000;
  if (docs.length > maxDocuments) {
    problems.push({
      file,
      message: `${docs.length} documents, over the limit of ${maxDocuments}; only the first ${maxDocuments} are audited`,
    });
  }
  // Documents come in order, so the line count moves forward only.
  let counted = 0;
  let line = 1;
  const lineOf = (offset: number): number => {
    for (let i = text.indexOf('\n', counted); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
      line++;
      counted = i + 1;
    }
    return line;
  };
  docs.slice(0, maxDocuments).forEach((doc, index) => {
    if (doc.errors.length > 0) {
      problems.push({ file, document: index, message: `not YAML: ${oneLine(doc.errors[0])}` });
      return;
    }
    if (doc.contents === null) return; // an empty document between two `---`
    try {
      const value = doc.toJS({ maxAliasCount: limits.maxAliasCount ?? 100 });
      const start = doc.contents && doc.contents.range ? doc.contents.range[0] : 0;
      documents.push({ file, index, value, line: lineOf(start) });
    } catch (e) {
      problems.push({ file, document: index, message: `unusable YAML: ${oneLine(e)}` });
    }
  });
  return { documents, problems };
}

function oneLine(e: unknown): string {
  // Errors may come from another realm (a test runner's), so no instanceof.
  const message = (e as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' ? message : String(e);
  return text.split('\n')[0].slice(0, 300);
}

/** Reads at most `max + 1` bytes from a file descriptor. */
function readCapped(fd: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(1024 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        // A non-blocking pipe with nothing yet: wait 10 ms instead of spinning.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(chunk.subarray(0, n)));
    total += n;
    if (total > max) break;
  }
  return Buffer.concat(chunks);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Parses the bytes of one input, refusing oversized and binary data. */
export function parseBytes(
  bytes: Buffer,
  file: string,
  limits: LoadLimits = {},
): { documents: SourceDocument[]; problems: InputProblem[] } {
  const max = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (bytes.length > max) {
    return {
      documents: [],
      problems: [{ file, message: `larger than the ${mib(max)} limit; not audited` }],
    };
  }
  if (isBinary(bytes)) {
    return {
      documents: [],
      problems: [{ file, message: 'binary data, not YAML or JSON; not audited' }],
    };
  }
  return parseText(bytes.toString('utf8'), file, limits);
}

/** The files under a folder that may be manifests or templates, in a stable order. */
function walk(dir: string, out: string[], skipped: string[], problems: InputProblem[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (e) {
    problems.push({ file: dir, message: `cannot read the folder: ${oneLine(e)}` });
    return;
  }
  for (const name of entries) {
    const path = join(dir, name);
    let stat;
    try {
      stat = lstatSync(path);
    } catch (e) {
      problems.push({ file: path, message: `cannot read: ${oneLine(e)}` });
      continue;
    }
    if (stat.isSymbolicLink()) continue; // never follow links: no loops, no escapes
    if (stat.isDirectory()) {
      if (name === 'node_modules' || name === '.git' || /^asset\./.test(name)) continue;
      walk(path, out, skipped, problems);
    } else if (stat.isFile() && EXTENSIONS.test(name)) {
      if (isCloudAssemblyBookkeeping(path)) skipped.push(path);
      else out.push(path);
    }
  }
}

/**
 * Reads files, folders (recursively: .yaml, .yml, .json) and `-` (standard input).
 * Oversized, binary and unparseable inputs become problems; nothing throws.
 * @param readStdin reads standard input (tests pass a stand-in)
 */
export function loadPaths(
  paths: readonly string[],
  limits: LoadLimits = {},
  readStdin: () => Buffer = () => readCapped(0, limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES),
): LoadResult {
  const documents: SourceDocument[] = [];
  const problems: InputProblem[] = [];
  const files: string[] = [];
  const skipped: string[] = [];
  const max = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;

  const readOne = (file: string) => {
    files.push(file);
    let bytes: Buffer;
    try {
      if (file === '-') {
        bytes = readStdin();
      } else {
        const size = statSync(file).size;
        if (size > max) {
          problems.push({
            file,
            message: `${mib(size)}, larger than the ${mib(max)} limit; not audited`,
          });
          return;
        }
        const fd = openSync(file, 'r');
        try {
          bytes = readCapped(fd, max);
        } finally {
          closeSync(fd);
        }
      }
    } catch (e) {
      problems.push({ file, message: `cannot read: ${oneLine(e)}` });
      return;
    }
    const parsed = parseBytes(bytes, file, limits);
    documents.push(...parsed.documents);
    problems.push(...parsed.problems);
  };

  for (const path of paths) {
    if (path === '-') {
      readOne('-');
      continue;
    }
    let stat;
    try {
      stat = statSync(path);
    } catch (e) {
      problems.push({ file: path, message: `cannot read: ${oneLine(e)}` });
      continue;
    }
    if (stat.isDirectory()) {
      const found: string[] = [];
      walk(path, found, skipped, problems);
      found.forEach(readOne);
    } else if (isCloudAssemblyBookkeeping(path)) {
      skipped.push(path);
    } else {
      readOne(path);
    }
  }
  return { documents, problems, files, skipped };
}
