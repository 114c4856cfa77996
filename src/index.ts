// Library entry: require('node-red-contrib-triton-vision')
export * from './client/errors';
export * from './client/types';
export * from './client/tensor';
