//===- MdlBase.td - mdl dialect definition and shared classes -*- tablegen -*-===//
//
// The `mdl` dialect is the first MLIR form of a `.mdl` program: a model with
// its state declared once, by kind (parameter, buffer, constant), and the
// forward functions written over tensors.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLBASE_TD
#define MDL_IR_MDLBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Mdl_Dialect : Dialect {
  let name = "mdl";
  let cppNamespace = "::mlir::mdl";
  let summary = "Models with typed state (parameters, buffers, constants)";
  let description = [{
    An `mdl.model` holds the declarations of its state entries
    (`mdl.param`, `mdl.buffer`, `mdl.const`) and `func.func` forward
    functions. Functions read state with `mdl.read` and may assign only
    buffers with `mdl.write`. The compute ops follow PyTorch semantics
    (broadcasting, `torch.matmul`, NCHW convolutions, ...).
  }];
  // Forward functions live in `func.func`; scalars are `arith.constant`.
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect"];
}

// The element types a `.mdl` tensor may have.
def Mdl_ElementType : AnyTypeOf<[F32, F64, F16, BF16, I32, I64, I1]>;
def Mdl_FloatElementType : AnyTypeOf<[F32, F64, F16, BF16]>;
def Mdl_IntElementType : AnyTypeOf<[I32, I64]>;

def Mdl_Tensor : RankedTensorOf<[Mdl_ElementType]>;
def Mdl_FloatTensor : RankedTensorOf<[Mdl_FloatElementType]>;
def Mdl_IndexTensor : RankedTensorOf<[Mdl_IntElementType]>;

// A pair of non-negative integers, such as a 2-D stride or padding.
def Mdl_I64Pair : ConfinedAttr<DenseI64ArrayAttr, [DenseArrayCount<2>]>;

class Mdl_Op<string mnemonic, list<Trait> traits = []>
    : Op<Mdl_Dialect, mnemonic, traits>;

#endif // MDL_IR_MDLBASE_TD
