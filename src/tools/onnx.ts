/**
 * The part of ONNX's protobuf schema we write and read (field numbers from the public
 * onnx.proto; schema written here), encoded with protobufjs, plus a field-level reader
 * for editing an exported model in place: protobufjs drops fields its schema does not
 * name, so a model is never decoded and re-encoded whole; only the messages we change
 * are rebuilt and every other byte is copied as it was.
 */
import * as protobuf from 'protobufjs';
import { floatToHalfBits } from '../protocol/tensor';

/** TensorProto.DataType values. */
export const OnnxType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
} as const;

const rep = (type: string, id: number) => ({ rule: 'repeated', type, id });
const one = (type: string, id: number) => ({ type, id });

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: one('int64', 1),
            producer_name: one('string', 2),
            producer_version: one('string', 3),
            graph: one('GraphProto', 7),
            opset_import: rep('OperatorSetIdProto', 8),
          },
        },
        OperatorSetIdProto: { fields: { domain: one('string', 1), version: one('int64', 2) } },
        GraphProto: {
          fields: {
            node: rep('NodeProto', 1),
            name: one('string', 2),
            initializer: rep('TensorProto', 5),
            input: rep('ValueInfoProto', 11),
            output: rep('ValueInfoProto', 12),
          },
        },
        NodeProto: {
          fields: {
            input: rep('string', 1),
            output: rep('string', 2),
            name: one('string', 3),
            op_type: one('string', 4),
            attribute: rep('AttributeProto', 5),
            domain: one('string', 7),
          },
        },
        AttributeProto: {
          fields: {
            name: one('string', 1),
            f: one('float', 2),
            i: one('int64', 3),
            s: one('bytes', 4),
            t: one('TensorProto', 5),
            floats: rep('float', 7),
            ints: rep('int64', 8),
            type: one('int32', 20),
          },
        },
        ValueInfoProto: { fields: { name: one('string', 1), type: one('TypeProto', 2) } },
        TypeProto: { fields: { tensor_type: one('TensorTypeProto', 1) } },
        TensorTypeProto: {
          fields: { elem_type: one('int32', 1), shape: one('TensorShapeProto', 2) },
        },
        TensorShapeProto: { fields: { dim: rep('Dimension', 1) } },
        Dimension: { fields: { dim_value: one('int64', 1), dim_param: one('string', 2) } },
        TensorProto: {
          fields: {
            dims: rep('int64', 1),
            data_type: one('int32', 2),
            name: one('string', 8),
            raw_data: one('bytes', 9),
          },
        },
      },
    },
  },
};

let root: protobuf.Root | undefined;
function type(name: string): protobuf.Type {
  root ??= protobuf.Root.fromJSON(SCHEMA);
  return root.lookupType(`onnx.${name}`);
}

// ---- plain shapes of the messages we build --------------------------------------------

export interface OnnxDim {
  dim_value?: number;
  dim_param?: string;
}
export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape?: { dim: OnnxDim[] } } };
}
export interface OnnxTensor {
  name: string;
  data_type: number;
  dims: number[];
  raw_data: Uint8Array;
}
export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  ints?: number[];
  floats?: number[];
  t?: OnnxTensor;
}
export interface OnnxNode {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute?: OnnxAttribute[];
  domain?: string;
}
export interface OnnxGraph {
  name?: string;
  node?: OnnxNode[];
  initializer?: OnnxTensor[];
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
}
export interface OnnxModel {
  ir_version: number;
  producer_name?: string;
  opset_import: { domain?: string; version: number }[];
  graph: OnnxGraph;
}

export function encodeMessage(name: string, value: object): Buffer {
  const t = type(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** A decoded message as plain values (int64 as numbers, bytes as Buffers). */
export function decodeMessage<T>(name: string, bytes: Uint8Array): T {
  const t = type(name);
  return t.toObject(t.decode(bytes), { longs: Number, bytes: Buffer, arrays: true }) as T;
}

export const encodeModel = (m: OnnxModel): Buffer => encodeMessage('ModelProto', m);

/** A tensor value info: `shape` entries are sizes, or names for dynamic dimensions. */
export function valueInfo(
  name: string,
  elemType: number,
  shape: (number | string)[],
): OnnxValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: {
          dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
        },
      },
    },
  };
}

/** A constant tensor of FLOAT or FLOAT16 values. */
export function floatTensor(
  name: string,
  dims: number[],
  values: readonly number[],
  dataType: number = OnnxType.FLOAT,
): OnnxTensor {
  let raw: Uint8Array;
  if (dataType === OnnxType.FLOAT16) {
    raw = new Uint8Array(Uint16Array.from(values, (v) => floatToHalfBits(v)).buffer);
  } else if (dataType === OnnxType.FLOAT) {
    raw = new Uint8Array(Float32Array.from(values).buffer);
  } else {
    throw new Error(`floatTensor: data type ${dataType} is not a float type`);
  }
  return { name, data_type: dataType, dims, raw_data: raw };
}

/** A constant INT64 tensor (shapes, axes, indices). */
export function int64Tensor(name: string, dims: number[], values: readonly number[]): OnnxTensor {
  return {
    name,
    data_type: OnnxType.INT64,
    dims,
    raw_data: new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer),
  };
}

// ---- field-level reading and writing -----------------------------------------------------

export interface RawField {
  field: number;
  wireType: number;
  /** The whole field: tag, length (for wire type 2) and value. */
  bytes: Buffer;
  /** The value only (the payload of a length-delimited field). */
  value: Buffer;
}

function readVarint(buf: Buffer, at: number): [value: number, next: number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    v += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return [v, i + 1];
  }
  throw new Error('malformed protobuf: a varint runs past the end of the message');
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The top-level fields of one message, in order, each with its bytes as they were. */
export function readFields(buf: Buffer): RawField[] {
  const fields: RawField[] = [];
  let at = 0;
  while (at < buf.length) {
    const start = at;
    const [tag, afterTag] = readVarint(buf, at);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    let valueStart = afterTag;
    let end: number;
    switch (wireType) {
      case 0:
        end = readVarint(buf, afterTag)[1];
        break;
      case 1:
        end = afterTag + 8;
        break;
      case 5:
        end = afterTag + 4;
        break;
      case 2: {
        const [len, afterLen] = readVarint(buf, afterTag);
        valueStart = afterLen;
        end = afterLen + len;
        break;
      }
      default:
        throw new Error(`malformed protobuf: wire type ${wireType} (field ${field})`);
    }
    if (end > buf.length) throw new Error(`malformed protobuf: field ${field} runs past the end`);
    fields.push({
      field,
      wireType,
      bytes: buf.subarray(start, end),
      value: buf.subarray(valueStart, end),
    });
    at = end;
  }
  return fields;
}

/** A length-delimited field holding `value`. */
export function lengthField(field: number, value: Uint8Array): Buffer {
  return Buffer.concat([varint(field * 8 + 2), varint(value.length), value]);
}
