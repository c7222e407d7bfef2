// RUN: mdl-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(mdl-chunk-serial-sums))" | FileCheck %s

// A thread's reduction (a Linear of 8192 inputs) is summed in chunks of 64
// terms, each in a register from -0.0, and each chunk's partial is added to
// the output once: one chain of 8192 float32 additions strays about 3x
// further from the exact sum (test/e2e/long_sums.test).

// CHECK-LABEL: func.func @linear_row
// CHECK:         %[[K:.*]] = arith.constant 8192 : index
// CHECK:         scf.parallel (%[[I:.*]]) =
// CHECK:           %[[C64:.*]] = arith.constant 64 : index
// CHECK:           %[[SPAN:.*]] = arith.muli %{{.*}}, %[[C64]] : index
// CHECK:           scf.for %[[C:.*]] = %{{.*}} to %[[K]] step %[[SPAN]] {
// CHECK:             %[[END0:.*]] = arith.addi %[[C]], %[[SPAN]] : index
// CHECK:             %[[END:.*]] = arith.minsi %[[END0]], %[[K]] : index
// CHECK:             %[[ZERO:.*]] = arith.constant -0.000000e+00 : f32
// CHECK:             %[[P:.*]] = scf.for %[[J:.*]] = %[[C]] to %[[END]] step %{{.*}} iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (f32) {
// CHECK:               %[[X:.*]] = memref.load %{{.*}}[%[[I]], %[[J]]]
// CHECK:               %[[S:.*]] = arith.addf %[[ACC]], %[[X]] fastmath<reassoc,contract> : f32
// CHECK:               scf.yield %[[S]] : f32
// CHECK:             }
// CHECK:             %[[O:.*]] = memref.load %[[OUT:.*]][%[[I]]]
// CHECK:             %[[T:.*]] = arith.addf %[[O]], %[[P]] fastmath<reassoc,contract> : f32
// CHECK:             memref.store %[[T]], %[[OUT]][%[[I]]]
// CHECK-NOT:     memref.store
func.func @linear_row(%a: memref<?x8192xf32>, %out: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %k = arith.constant 8192 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.for %j = %c0 to %k step %c1 {
      %x = memref.load %a[%i, %j] : memref<?x8192xf32>
      %o = memref.load %out[%i] : memref<?xf32>
      %s = arith.addf %o, %x fastmath<reassoc,contract> : f32
      memref.store %s, %out[%i] : memref<?xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A convolution's loops over channels and taps hold nothing else: the
// partial is carried through all three, and a chunk is 7 channels of 3x3
// taps (63 terms).

// CHECK-LABEL: func.func @conv_taps
// CHECK:         %[[C7:.*]] = arith.constant 7 : index
// CHECK:         %[[SPAN:.*]] = arith.muli %{{.*}}, %[[C7]] : index
// CHECK:         scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step %[[SPAN]] {
// CHECK:           %[[ZERO:.*]] = arith.constant -0.000000e+00 : f32
// CHECK:           %[[P:.*]] = scf.for %{{.*}} = %[[C]] to %{{.*}} iter_args(%[[A0:.*]] = %[[ZERO]]) -> (f32) {
// CHECK:             %[[P1:.*]] = scf.for %{{.*}} iter_args(%[[A1:.*]] = %[[A0]]) -> (f32) {
// CHECK:               %[[P2:.*]] = scf.for %{{.*}} iter_args(%[[A2:.*]] = %[[A1]]) -> (f32) {
// CHECK:                 %[[M:.*]] = arith.mulf
// CHECK:                 %[[S:.*]] = arith.addf %[[A2]], %[[M]]
// CHECK:                 scf.yield %[[S]] : f32
// CHECK:               scf.yield %[[P2]] : f32
// CHECK:             scf.yield %[[P1]] : f32
// CHECK:           %[[O:.*]] = memref.load %[[OUT:.*]][]
// CHECK:           %[[T:.*]] = arith.addf %[[O]], %[[P]]
// CHECK:           memref.store %[[T]], %[[OUT]][]
func.func @conv_taps(%x: memref<256x3x3xf32>, %w: memref<256x3x3xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c256 = arith.constant 256 : index
  scf.for %c = %c0 to %c256 step %c1 {
    scf.for %kh = %c0 to %c3 step %c1 {
      scf.for %kw = %c0 to %c3 step %c1 {
        %a = memref.load %x[%c, %kh, %kw] : memref<256x3x3xf32>
        %b = memref.load %w[%c, %kh, %kw] : memref<256x3x3xf32>
        %o = memref.load %out[] : memref<f32>
        %m = arith.mulf %a, %b fastmath<reassoc,contract> : f32
        %s = arith.addf %o, %m fastmath<reassoc,contract> : f32
        memref.store %s, %out[] : memref<f32>
      }
    }
  }
  return
}

// -----

// Left as they are: an addition that may not reassociate (not a reduction's
// combiner), an output indexed by the loop, an output the loop also reads
// elsewhere, and one it reads through another view of its buffer.

// CHECK-LABEL: func.func @not_sums
// CHECK-NOT:     iter_args
// CHECK:         return
func.func @not_sums(%a: memref<64xf32>, %out: memref<64xf32>, %acc: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %k = arith.constant 64 : index
  scf.for %j = %c0 to %k step %c1 {
    %x = memref.load %a[%j] : memref<64xf32>
    %o = memref.load %acc[] : memref<f32>
    %s = arith.addf %o, %x fastmath<contract> : f32
    memref.store %s, %acc[] : memref<f32>
  }
  scf.for %j = %c0 to %k step %c1 {
    %x = memref.load %a[%j] : memref<64xf32>
    %o = memref.load %out[%j] : memref<64xf32>
    %s = arith.addf %o, %x fastmath<reassoc,contract> : f32
    memref.store %s, %out[%j] : memref<64xf32>
  }
  scf.for %j = %c0 to %k step %c1 {
    %x = memref.load %out[%j] : memref<64xf32>
    %o = memref.load %out[%c0] : memref<64xf32>
    %s = arith.addf %o, %x fastmath<reassoc,contract> : f32
    memref.store %s, %out[%c0] : memref<64xf32>
  }
  %view = memref.subview %out[0] [32] [1] : memref<64xf32> to memref<32xf32, strided<[1]>>
  scf.for %j = %c0 to %k step %c1 {
    %x = memref.load %view[%c0] : memref<32xf32, strided<[1]>>
    %o = memref.load %out[%c0] : memref<64xf32>
    %s = arith.addf %o, %x fastmath<reassoc,contract> : f32
    memref.store %s, %out[%c0] : memref<64xf32>
  }
  return
}
