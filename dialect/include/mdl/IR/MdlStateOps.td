//===- MdlStateOps.td - model structure and state ops -------*- tablegen -*-===//
//
// `mdl.model`, the state declarations it holds, and the two ops that access
// state from a forward function.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLSTATEOPS_TD
#define MDL_IR_MDLSTATEOPS_TD

include "mdl/IR/MdlBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

def Mdl_ModelOp : Mdl_Op<"model", [
    SymbolTable, Symbol, IsolatedFromAbove, NoTerminator, SingleBlock]> {
  let summary = "A model: state declarations and forward functions";
  let description = [{
    A model is a symbol table. Its single block holds the declarations of the
    model's state (`mdl.param`, `mdl.buffer`, `mdl.const`) and the forward
    functions (`func.func @forward_eval`, `func.func @forward_train`).
    State names are the PyTorch state-dict keys, so they usually contain
    dots and print quoted.

    Example:

    ```mlir
    mdl.model @TinyModel {
      mdl.param @"linear1.weight" : tensor<200x100xf32> init "uniform"(-0.1, 0.1)
      mdl.buffer @"bn.running_mean" : tensor<200xf32> persistent init "full"(0.0)
      func.func @forward_eval(%x: tensor<?x100xf32>) -> tensor<?x200xf32> {
        %w = mdl.read @"linear1.weight" : tensor<200x100xf32>
        %0 = mdl.linear %x, %w : (tensor<?x100xf32>, tensor<200x100xf32>) -> tensor<?x200xf32>
        return %0 : tensor<?x200xf32>
      }
    }
    ```
  }];

  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$bodyRegion);

  // The custom directive gives a printed `{}` its block back, which the
  // symbol table requires.
  let assemblyFormat = [{
    $sym_name attr-dict-with-keyword custom<ModelBody>($bodyRegion)
  }];

  // After the declarations' own checks: each constant, and all of them
  // together, within kMaxConstantElements and kMaxModelConstantElements.
  let hasRegionVerifier = 1;

  let skipDefaultBuilders = 1;
  let builders = [
    // Creates the model with its (empty) body block.
    OpBuilder<(ins "::llvm::StringRef":$name)>
  ];
}

//===----------------------------------------------------------------------===//
// State declarations
//===----------------------------------------------------------------------===//

// The declarations share their syntax and their checks: a statically shaped
// tensor type and an initializer with the right number of arguments.
class Mdl_StateDeclOp<string mnemonic, list<Trait> traits = []>
    : Mdl_Op<mnemonic, !listconcat(traits, [
        HasParent<"::mlir::mdl::ModelOp">, Symbol])> {
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;

  code stateDeclExtraClassDeclaration = [{
    /// The declared tensor type.
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    /// What kind of state this declaration makes.
    ::mlir::mdl::StateKind getStateKind();
  }];
  let extraClassDeclaration = stateDeclExtraClassDeclaration;
}

def Mdl_ParamOp : Mdl_StateDeclOp<"param"> {
  let summary = "Declares a trainable parameter";
  let description = [{
    A parameter is trained by the optimizer; forward functions only read it.
    `init` names the initializer: `"full"(value)`, `"uniform"(low, high)` or
    `"normal"(mean, std)`.

    Example:

    ```mlir
    mdl.param @"linear1.weight" : tensor<200x100xf32> init "uniform"(-0.1, 0.1)
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type, StrAttr:$init,
                       DenseF64ArrayAttr:$init_args);
}

def Mdl_BufferOp : Mdl_StateDeclOp<"buffer"> {
  let summary = "Declares a buffer (state that forward functions may assign)";
  let description = [{
    A buffer is state that is not trained, such as a BatchNorm running mean.
    Forward functions may assign it with `mdl.write`. A persistent buffer is
    part of the state dict; a non-persistent one is not.

    Example:

    ```mlir
    mdl.buffer @"bn.running_mean" : tensor<5xf32> persistent init "full"(0.0)
    mdl.buffer @scratch : tensor<f32> non_persistent init "full"(1.0)
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type, StrAttr:$init,
                       DenseF64ArrayAttr:$init_args, BoolAttr:$persistent);
}

def Mdl_ConstOp : Mdl_StateDeclOp<"const"> {
  let summary = "Declares a constant tensor compiled into the code";
  let description = [{
    A constant is neither trained nor assigned; its value comes from its
    initializer.

    Example:

    ```mlir
    mdl.const @my_tensor : tensor<3xf32> init "full"(2.0)
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type, StrAttr:$init,
                       DenseF64ArrayAttr:$init_args);
}

//===----------------------------------------------------------------------===//
// State access
//===----------------------------------------------------------------------===//

def Mdl_ReadOp : Mdl_Op<"read", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead]>]> {
  let summary = "Reads the current value of a state entry";
  let description = [{
    Yields the value of a parameter, buffer or constant of the enclosing
    model. The result type is the declared type. The read is ordered after
    earlier `mdl.write`s (it has a read effect), so it is never merged with a
    read on the other side of a write.

    Example:

    ```mlir
    %w = mdl.read @"linear1.weight" : tensor<200x100xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$state);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = "$state attr-dict `:` type($result)";
}

def Mdl_WriteOp : Mdl_Op<"write", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemWrite]>]> {
  let summary = "Assigns a new value to a buffer";
  let description = [{
    The `.mdl` assignment `self.x <- value`. Only buffers can be assigned;
    the value must have the buffer's declared type.

    Example:

    ```mlir
    mdl.write %m to @"bn.running_mean" : tensor<5xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$value, FlatSymbolRefAttr:$state);
  let assemblyFormat = "$value `to` $state attr-dict `:` type($value)";
}

#endif // MDL_IR_MDLSTATEOPS_TD
