"""C declarations for the part of Binaryen 116's C API (binaryen-c.h) we use.

Only `asyncpy.binaryen` loads these; nothing else in asyncpy sees cffi. The
signatures follow binaryen-c.h of version 116 exactly: a wrong return type
here is silent memory corruption, so add declarations by copying them from
the header, never by guessing.
"""

CDEF = r"""
typedef uint32_t BinaryenIndex;
typedef uintptr_t BinaryenType;
typedef uintptr_t BinaryenHeapType;
typedef uint32_t BinaryenExpressionId;
typedef uint32_t BinaryenExternalKind;
typedef uint32_t BinaryenFeatures;
typedef int32_t BinaryenOp;
typedef uint32_t BinaryenSideEffects;
typedef struct BinaryenModule* BinaryenModuleRef;
typedef struct BinaryenExpression* BinaryenExpressionRef;
typedef struct BinaryenFunction* BinaryenFunctionRef;
typedef struct BinaryenGlobal* BinaryenGlobalRef;
typedef struct BinaryenExport* BinaryenExportRef;
typedef struct BinaryenTable* BinaryenTableRef;
typedef struct BinaryenElementSegment* BinaryenElementSegmentRef;

/* binaryen-c.h declares the value as an anonymous union of i32, i64, f32,
   f64, v128 and func; cffi cannot pass such a struct by value in ABI mode.
   The same 24 bytes with the union as raw bytes have the same layout, and we
   fill them ourselves (see Builder.const). */
struct BinaryenLiteral {
  uintptr_t type;
  uint8_t bytes[16];
};

typedef struct BinaryenModuleAllocateAndWriteResult {
  void* binary;
  size_t binaryBytes;
  char* sourceMap;
} BinaryenModuleAllocateAndWriteResult;

void free(void*);
int malloc_trim(size_t pad);   /* glibc's; absent elsewhere (see library.release_freed_memory) */

/* types */
BinaryenType BinaryenTypeNone(void);
BinaryenType BinaryenTypeInt32(void);
BinaryenType BinaryenTypeInt64(void);
BinaryenType BinaryenTypeFloat32(void);
BinaryenType BinaryenTypeFloat64(void);
BinaryenType BinaryenTypeVec128(void);
BinaryenType BinaryenTypeUnreachable(void);
BinaryenType BinaryenTypeAuto(void);
BinaryenType BinaryenTypeCreate(BinaryenType* valueTypes, BinaryenIndex numTypes);
uint32_t BinaryenTypeArity(BinaryenType t);
void BinaryenTypeExpand(BinaryenType t, BinaryenType* buf);
BinaryenHeapType BinaryenTypeGetHeapType(BinaryenType type);
bool BinaryenTypeIsNullable(BinaryenType type);
bool BinaryenHeapTypeIsSignature(BinaryenHeapType heapType);
BinaryenType BinaryenSignatureTypeGetParams(BinaryenHeapType heapType);
BinaryenType BinaryenSignatureTypeGetResults(BinaryenHeapType heapType);

/* features */
BinaryenFeatures BinaryenFeatureMVP(void);
BinaryenFeatures BinaryenFeatureAtomics(void);
BinaryenFeatures BinaryenFeatureBulkMemory(void);
BinaryenFeatures BinaryenFeatureMutableGlobals(void);
BinaryenFeatures BinaryenFeatureNontrappingFPToInt(void);
BinaryenFeatures BinaryenFeatureSignExt(void);
BinaryenFeatures BinaryenFeatureSIMD128(void);
BinaryenFeatures BinaryenFeatureExceptionHandling(void);
BinaryenFeatures BinaryenFeatureTailCall(void);
BinaryenFeatures BinaryenFeatureReferenceTypes(void);
BinaryenFeatures BinaryenFeatureMultivalue(void);
BinaryenFeatures BinaryenFeatureGC(void);
BinaryenFeatures BinaryenFeatureMemory64(void);
BinaryenFeatures BinaryenFeatureRelaxedSIMD(void);
BinaryenFeatures BinaryenFeatureExtendedConst(void);
BinaryenFeatures BinaryenFeatureStrings(void);
BinaryenFeatures BinaryenFeatureMultiMemory(void);
BinaryenFeatures BinaryenFeatureAll(void);

/* expression ids */
BinaryenExpressionId BinaryenInvalidId(void);
BinaryenExpressionId BinaryenNopId(void);
BinaryenExpressionId BinaryenBlockId(void);
BinaryenExpressionId BinaryenIfId(void);
BinaryenExpressionId BinaryenLoopId(void);
BinaryenExpressionId BinaryenBreakId(void);
BinaryenExpressionId BinaryenSwitchId(void);
BinaryenExpressionId BinaryenCallId(void);
BinaryenExpressionId BinaryenCallIndirectId(void);
BinaryenExpressionId BinaryenLocalGetId(void);
BinaryenExpressionId BinaryenLocalSetId(void);
BinaryenExpressionId BinaryenGlobalGetId(void);
BinaryenExpressionId BinaryenGlobalSetId(void);
BinaryenExpressionId BinaryenLoadId(void);
BinaryenExpressionId BinaryenStoreId(void);
BinaryenExpressionId BinaryenAtomicRMWId(void);
BinaryenExpressionId BinaryenAtomicCmpxchgId(void);
BinaryenExpressionId BinaryenAtomicWaitId(void);
BinaryenExpressionId BinaryenAtomicNotifyId(void);
BinaryenExpressionId BinaryenAtomicFenceId(void);
BinaryenExpressionId BinaryenSIMDExtractId(void);
BinaryenExpressionId BinaryenSIMDReplaceId(void);
BinaryenExpressionId BinaryenSIMDShuffleId(void);
BinaryenExpressionId BinaryenSIMDTernaryId(void);
BinaryenExpressionId BinaryenSIMDShiftId(void);
BinaryenExpressionId BinaryenSIMDLoadId(void);
BinaryenExpressionId BinaryenSIMDLoadStoreLaneId(void);
BinaryenExpressionId BinaryenMemoryInitId(void);
BinaryenExpressionId BinaryenDataDropId(void);
BinaryenExpressionId BinaryenMemoryCopyId(void);
BinaryenExpressionId BinaryenMemoryFillId(void);
BinaryenExpressionId BinaryenConstId(void);
BinaryenExpressionId BinaryenUnaryId(void);
BinaryenExpressionId BinaryenBinaryId(void);
BinaryenExpressionId BinaryenSelectId(void);
BinaryenExpressionId BinaryenDropId(void);
BinaryenExpressionId BinaryenReturnId(void);
BinaryenExpressionId BinaryenMemorySizeId(void);
BinaryenExpressionId BinaryenMemoryGrowId(void);
BinaryenExpressionId BinaryenUnreachableId(void);
BinaryenExpressionId BinaryenPopId(void);
BinaryenExpressionId BinaryenRefNullId(void);
BinaryenExpressionId BinaryenRefIsNullId(void);
BinaryenExpressionId BinaryenRefFuncId(void);
BinaryenExpressionId BinaryenRefEqId(void);
BinaryenExpressionId BinaryenRefAsId(void);
BinaryenExpressionId BinaryenTableGetId(void);
BinaryenExpressionId BinaryenTableSetId(void);
BinaryenExpressionId BinaryenTableSizeId(void);
BinaryenExpressionId BinaryenTableGrowId(void);
BinaryenExpressionId BinaryenTryId(void);
BinaryenExpressionId BinaryenThrowId(void);
BinaryenExpressionId BinaryenRethrowId(void);
BinaryenExpressionId BinaryenTupleMakeId(void);
BinaryenExpressionId BinaryenTupleExtractId(void);
BinaryenExpressionId BinaryenCallRefId(void);

/* modules */
BinaryenModuleRef BinaryenModuleCreate(void);
void BinaryenModuleDispose(BinaryenModuleRef module);
BinaryenModuleRef BinaryenModuleRead(char* input, size_t inputSize);
BinaryenModuleRef BinaryenModuleParse(const char* text);
bool BinaryenModuleValidate(BinaryenModuleRef module);
BinaryenFeatures BinaryenModuleGetFeatures(BinaryenModuleRef module);
void BinaryenModuleSetFeatures(BinaryenModuleRef module, BinaryenFeatures features);
void BinaryenModuleOptimize(BinaryenModuleRef module);
void BinaryenModuleRunPasses(BinaryenModuleRef module, const char** passes, BinaryenIndex numPasses);
void BinaryenFunctionRunPasses(BinaryenFunctionRef func, BinaryenModuleRef module, const char** passes, BinaryenIndex numPasses);
BinaryenModuleAllocateAndWriteResult BinaryenModuleAllocateAndWrite(BinaryenModuleRef module, const char* sourceMapUrl);
char* BinaryenModuleAllocateAndWriteText(BinaryenModuleRef module);
void BinaryenSetOptimizeLevel(int level);
void BinaryenSetShrinkLevel(int level);
void BinaryenSetDebugInfo(bool on);
void BinaryenSetLowMemoryUnused(bool on);
void BinaryenSetZeroFilledMemory(bool on);
void BinaryenSetFastMath(bool value);
bool BinaryenGetDebugInfo(void);
void BinaryenFunctionOptimize(BinaryenFunctionRef func, BinaryenModuleRef module);
void BinaryenSetPassArgument(const char* name, const char* value);
void BinaryenClearPassArguments(void);
void BinaryenSetColorsEnabled(bool enabled);
BinaryenSideEffects BinaryenExpressionGetSideEffects(BinaryenExpressionRef expr, BinaryenModuleRef module);
BinaryenSideEffects BinaryenSideEffectNone(void);
BinaryenSideEffects BinaryenSideEffectBranches(void);
BinaryenSideEffects BinaryenSideEffectCalls(void);
BinaryenSideEffects BinaryenSideEffectReadsLocal(void);
BinaryenSideEffects BinaryenSideEffectWritesLocal(void);
BinaryenSideEffects BinaryenSideEffectReadsGlobal(void);
BinaryenSideEffects BinaryenSideEffectWritesGlobal(void);
BinaryenSideEffects BinaryenSideEffectReadsMemory(void);
BinaryenSideEffects BinaryenSideEffectWritesMemory(void);
BinaryenSideEffects BinaryenSideEffectReadsTable(void);
BinaryenSideEffects BinaryenSideEffectWritesTable(void);
BinaryenSideEffects BinaryenSideEffectImplicitTrap(void);
BinaryenSideEffects BinaryenSideEffectTrapsNeverHappen(void);
BinaryenSideEffects BinaryenSideEffectIsAtomic(void);
BinaryenSideEffects BinaryenSideEffectThrows(void);
BinaryenSideEffects BinaryenSideEffectDanglingPop(void);
BinaryenSideEffects BinaryenSideEffectAny(void);

/* functions */
BinaryenIndex BinaryenGetNumFunctions(BinaryenModuleRef module);
BinaryenFunctionRef BinaryenGetFunctionByIndex(BinaryenModuleRef module, BinaryenIndex index);
BinaryenFunctionRef BinaryenGetFunction(BinaryenModuleRef module, const char* name);
const char* BinaryenFunctionGetName(BinaryenFunctionRef func);
BinaryenType BinaryenFunctionGetParams(BinaryenFunctionRef func);
BinaryenType BinaryenFunctionGetResults(BinaryenFunctionRef func);
BinaryenIndex BinaryenFunctionGetNumVars(BinaryenFunctionRef func);
BinaryenType BinaryenFunctionGetVar(BinaryenFunctionRef func, BinaryenIndex index);
BinaryenIndex BinaryenFunctionGetNumLocals(BinaryenFunctionRef func);
BinaryenExpressionRef BinaryenFunctionGetBody(BinaryenFunctionRef func);
void BinaryenFunctionSetBody(BinaryenFunctionRef func, BinaryenExpressionRef body);
const char* BinaryenFunctionImportGetModule(BinaryenFunctionRef import);
const char* BinaryenFunctionImportGetBase(BinaryenFunctionRef import);
const char* BinaryenFunctionGetLocalName(BinaryenFunctionRef func, BinaryenIndex index);
bool BinaryenFunctionHasLocalName(BinaryenFunctionRef func, BinaryenIndex index);
void BinaryenFunctionSetLocalName(BinaryenFunctionRef func, BinaryenIndex index, const char* name);
BinaryenFunctionRef BinaryenAddFunction(BinaryenModuleRef module, const char* name, BinaryenType params, BinaryenType results, BinaryenType* varTypes, BinaryenIndex numVarTypes, BinaryenExpressionRef body);
void BinaryenRemoveFunction(BinaryenModuleRef module, const char* name);
void BinaryenAddFunctionImport(BinaryenModuleRef module, const char* internalName, const char* externalModuleName, const char* externalBaseName, BinaryenType params, BinaryenType results);

/* globals */
BinaryenIndex BinaryenGetNumGlobals(BinaryenModuleRef module);
BinaryenGlobalRef BinaryenGetGlobalByIndex(BinaryenModuleRef module, BinaryenIndex index);
BinaryenGlobalRef BinaryenGetGlobal(BinaryenModuleRef module, const char* name);
const char* BinaryenGlobalGetName(BinaryenGlobalRef global);
BinaryenType BinaryenGlobalGetType(BinaryenGlobalRef global);
bool BinaryenGlobalIsMutable(BinaryenGlobalRef global);
BinaryenExpressionRef BinaryenGlobalGetInitExpr(BinaryenGlobalRef global);
const char* BinaryenGlobalImportGetModule(BinaryenGlobalRef import);
const char* BinaryenGlobalImportGetBase(BinaryenGlobalRef import);
BinaryenGlobalRef BinaryenAddGlobal(BinaryenModuleRef module, const char* name, BinaryenType type, bool mutable_, BinaryenExpressionRef init);
void BinaryenAddGlobalImport(BinaryenModuleRef module, const char* internalName, const char* externalModuleName, const char* externalBaseName, BinaryenType globalType, bool mutable_);

/* exports */
BinaryenIndex BinaryenGetNumExports(BinaryenModuleRef module);
BinaryenExportRef BinaryenGetExportByIndex(BinaryenModuleRef module, BinaryenIndex index);
BinaryenExportRef BinaryenGetExport(BinaryenModuleRef module, const char* externalName);
BinaryenExternalKind BinaryenExportGetKind(BinaryenExportRef export_);
const char* BinaryenExportGetName(BinaryenExportRef export_);
const char* BinaryenExportGetValue(BinaryenExportRef export_);
BinaryenExternalKind BinaryenExternalFunction(void);
BinaryenExternalKind BinaryenExternalTable(void);
BinaryenExternalKind BinaryenExternalMemory(void);
BinaryenExternalKind BinaryenExternalGlobal(void);
BinaryenExternalKind BinaryenExternalTag(void);
BinaryenExportRef BinaryenAddFunctionExport(BinaryenModuleRef module, const char* internalName, const char* externalName);
BinaryenExportRef BinaryenAddGlobalExport(BinaryenModuleRef module, const char* internalName, const char* externalName);
BinaryenExportRef BinaryenAddMemoryExport(BinaryenModuleRef module, const char* internalName, const char* externalName);
void BinaryenRemoveExport(BinaryenModuleRef module, const char* externalName);

/* memories */
bool BinaryenHasMemory(BinaryenModuleRef module);
bool BinaryenMemoryIs64(BinaryenModuleRef module, const char* name);
BinaryenIndex BinaryenMemoryGetInitial(BinaryenModuleRef module, const char* name);
bool BinaryenMemoryIsShared(BinaryenModuleRef module, const char* name);
const char* BinaryenMemoryImportGetModule(BinaryenModuleRef module, const char* name);

void BinaryenAddMemoryImport(BinaryenModuleRef module, const char* internalName, const char* externalModuleName, const char* externalBaseName, uint8_t shared);

/* tables and element segments */
BinaryenIndex BinaryenGetNumTables(BinaryenModuleRef module);
BinaryenTableRef BinaryenGetTableByIndex(BinaryenModuleRef module, BinaryenIndex index);
const char* BinaryenTableGetName(BinaryenTableRef table);
const char* BinaryenTableImportGetModule(BinaryenTableRef import);
BinaryenIndex BinaryenGetNumElementSegments(BinaryenModuleRef module);
BinaryenElementSegmentRef BinaryenGetElementSegmentByIndex(BinaryenModuleRef module, BinaryenIndex index);
const char* BinaryenElementSegmentGetTable(BinaryenElementSegmentRef elem);
BinaryenIndex BinaryenElementSegmentGetLength(BinaryenElementSegmentRef elem);
const char* BinaryenElementSegmentGetData(BinaryenElementSegmentRef elem, BinaryenIndex dataId);
bool BinaryenElementSegmentIsPassive(BinaryenElementSegmentRef elem);
BinaryenExpressionRef BinaryenElementSegmentGetOffset(BinaryenElementSegmentRef elem);

/* expression inspection */
BinaryenExpressionId BinaryenExpressionGetId(BinaryenExpressionRef expr);
BinaryenType BinaryenExpressionGetType(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenExpressionCopy(BinaryenExpressionRef expr, BinaryenModuleRef module);
void BinaryenExpressionFinalize(BinaryenExpressionRef expr);
void BinaryenExpressionSetType(BinaryenExpressionRef expr, BinaryenType type);
void BinaryenExpressionPrint(BinaryenExpressionRef expr);

const char* BinaryenBlockGetName(BinaryenExpressionRef expr);
BinaryenIndex BinaryenBlockGetNumChildren(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenBlockGetChildAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenIndex BinaryenBlockAppendChild(BinaryenExpressionRef expr, BinaryenExpressionRef childExpr);
BinaryenExpressionRef BinaryenBlockRemoveChildAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenExpressionRef BinaryenIfGetCondition(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenIfGetIfTrue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenIfGetIfFalse(BinaryenExpressionRef expr);
const char* BinaryenLoopGetName(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenLoopGetBody(BinaryenExpressionRef expr);
const char* BinaryenBreakGetName(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenBreakGetCondition(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenBreakGetValue(BinaryenExpressionRef expr);
BinaryenIndex BinaryenSwitchGetNumNames(BinaryenExpressionRef expr);
const char* BinaryenSwitchGetNameAt(BinaryenExpressionRef expr, BinaryenIndex index);
const char* BinaryenSwitchGetDefaultName(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSwitchGetCondition(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSwitchGetValue(BinaryenExpressionRef expr);
const char* BinaryenCallGetTarget(BinaryenExpressionRef expr);
BinaryenIndex BinaryenCallGetNumOperands(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenCallGetOperandAt(BinaryenExpressionRef expr, BinaryenIndex index);
bool BinaryenCallIsReturn(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenCallIndirectGetTarget(BinaryenExpressionRef expr);
const char* BinaryenCallIndirectGetTable(BinaryenExpressionRef expr);
BinaryenIndex BinaryenCallIndirectGetNumOperands(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenCallIndirectGetOperandAt(BinaryenExpressionRef expr, BinaryenIndex index);
bool BinaryenCallIndirectIsReturn(BinaryenExpressionRef expr);
BinaryenType BinaryenCallIndirectGetParams(BinaryenExpressionRef expr);
BinaryenType BinaryenCallIndirectGetResults(BinaryenExpressionRef expr);
BinaryenIndex BinaryenLocalGetGetIndex(BinaryenExpressionRef expr);
bool BinaryenLocalSetIsTee(BinaryenExpressionRef expr);
BinaryenIndex BinaryenLocalSetGetIndex(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenLocalSetGetValue(BinaryenExpressionRef expr);
const char* BinaryenGlobalGetGetName(BinaryenExpressionRef expr);
const char* BinaryenGlobalSetGetName(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenGlobalSetGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryGrowGetDelta(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenLoadGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenStoreGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenStoreGetValue(BinaryenExpressionRef expr);
BinaryenOp BinaryenUnaryGetOp(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenUnaryGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenBinaryGetLeft(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenBinaryGetRight(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSelectGetIfTrue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSelectGetIfFalse(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSelectGetCondition(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenDropGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenReturnGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicRMWGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicRMWGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicCmpxchgGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicCmpxchgGetExpected(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicCmpxchgGetReplacement(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicWaitGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicWaitGetExpected(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicWaitGetTimeout(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicNotifyGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenAtomicNotifyGetNotifyCount(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDExtractGetVec(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDReplaceGetVec(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDReplaceGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDShuffleGetLeft(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDShuffleGetRight(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDTernaryGetA(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDTernaryGetB(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDTernaryGetC(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDShiftGetVec(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDShiftGetShift(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDLoadGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDLoadStoreLaneGetPtr(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenSIMDLoadStoreLaneGetVec(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryInitGetDest(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryInitGetOffset(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryInitGetSize(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryCopyGetDest(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryCopyGetSource(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryCopyGetSize(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryFillGetDest(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryFillGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemoryFillGetSize(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenRefIsNullGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenRefAsGetValue(BinaryenExpressionRef expr);
const char* BinaryenRefFuncGetFunc(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenRefEqGetLeft(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenRefEqGetRight(BinaryenExpressionRef expr);
const char* BinaryenTableGetGetTable(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTableGetGetIndex(BinaryenExpressionRef expr);
const char* BinaryenTableSetGetTable(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTableSetGetIndex(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTableSetGetValue(BinaryenExpressionRef expr);
const char* BinaryenTableGrowGetTable(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTableGrowGetValue(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTableGrowGetDelta(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTryGetBody(BinaryenExpressionRef expr);
BinaryenIndex BinaryenTryGetNumCatchBodies(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTryGetCatchBodyAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenIndex BinaryenThrowGetNumOperands(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenThrowGetOperandAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenIndex BinaryenTupleMakeGetNumOperands(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenTupleMakeGetOperandAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenExpressionRef BinaryenTupleExtractGetTuple(BinaryenExpressionRef expr);
BinaryenIndex BinaryenTupleExtractGetIndex(BinaryenExpressionRef expr);
BinaryenIndex BinaryenCallRefGetNumOperands(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenCallRefGetOperandAt(BinaryenExpressionRef expr, BinaryenIndex index);
BinaryenExpressionRef BinaryenCallRefGetTarget(BinaryenExpressionRef expr);
bool BinaryenCallRefIsReturn(BinaryenExpressionRef expr);

/* expression construction */
BinaryenExpressionRef BinaryenBlock(BinaryenModuleRef module, const char* name, BinaryenExpressionRef* children, BinaryenIndex numChildren, BinaryenType type);
BinaryenExpressionRef BinaryenIf(BinaryenModuleRef module, BinaryenExpressionRef condition, BinaryenExpressionRef ifTrue, BinaryenExpressionRef ifFalse);
BinaryenExpressionRef BinaryenLoop(BinaryenModuleRef module, const char* in, BinaryenExpressionRef body);
BinaryenExpressionRef BinaryenBreak(BinaryenModuleRef module, const char* name, BinaryenExpressionRef condition, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenSwitch(BinaryenModuleRef module, const char** names, BinaryenIndex numNames, const char* defaultName, BinaryenExpressionRef condition, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenCall(BinaryenModuleRef module, const char* target, BinaryenExpressionRef* operands, BinaryenIndex numOperands, BinaryenType returnType);
BinaryenExpressionRef BinaryenCallIndirect(BinaryenModuleRef module, const char* table, BinaryenExpressionRef target, BinaryenExpressionRef* operands, BinaryenIndex numOperands, BinaryenType params, BinaryenType results);
BinaryenExpressionRef BinaryenLocalGet(BinaryenModuleRef module, BinaryenIndex index, BinaryenType type);
BinaryenExpressionRef BinaryenLocalSet(BinaryenModuleRef module, BinaryenIndex index, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenLocalTee(BinaryenModuleRef module, BinaryenIndex index, BinaryenExpressionRef value, BinaryenType type);
BinaryenExpressionRef BinaryenGlobalGet(BinaryenModuleRef module, const char* name, BinaryenType type);
BinaryenExpressionRef BinaryenGlobalSet(BinaryenModuleRef module, const char* name, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenLoad(BinaryenModuleRef module, uint32_t bytes, bool signed_, uint32_t offset, uint32_t align, BinaryenType type, BinaryenExpressionRef ptr, const char* memoryName);
BinaryenExpressionRef BinaryenStore(BinaryenModuleRef module, uint32_t bytes, uint32_t offset, uint32_t align, BinaryenExpressionRef ptr, BinaryenExpressionRef value, BinaryenType type, const char* memoryName);
BinaryenExpressionRef BinaryenConst(BinaryenModuleRef module, struct BinaryenLiteral value);
BinaryenExpressionRef BinaryenUnary(BinaryenModuleRef module, BinaryenOp op, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenBinary(BinaryenModuleRef module, BinaryenOp op, BinaryenExpressionRef left, BinaryenExpressionRef right);
BinaryenExpressionRef BinaryenSelect(BinaryenModuleRef module, BinaryenExpressionRef condition, BinaryenExpressionRef ifTrue, BinaryenExpressionRef ifFalse, BinaryenType type);
BinaryenExpressionRef BinaryenDrop(BinaryenModuleRef module, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenReturn(BinaryenModuleRef module, BinaryenExpressionRef value);
BinaryenExpressionRef BinaryenNop(BinaryenModuleRef module);
BinaryenExpressionRef BinaryenUnreachable(BinaryenModuleRef module);
BinaryenExpressionRef BinaryenTupleMake(BinaryenModuleRef module, BinaryenExpressionRef* operands, BinaryenIndex numOperands);
BinaryenExpressionRef BinaryenTupleExtract(BinaryenModuleRef module, BinaryenExpressionRef tuple, BinaryenIndex index);
BinaryenExpressionRef BinaryenRefNull(BinaryenModuleRef module, BinaryenType type);


/* ops we build */
BinaryenOp BinaryenAddInt32(void);
BinaryenOp BinaryenSubInt32(void);
BinaryenOp BinaryenAddInt64(void);
BinaryenOp BinaryenSubInt64(void);
BinaryenOp BinaryenEqInt32(void);
BinaryenOp BinaryenNeInt32(void);
BinaryenOp BinaryenEqZInt32(void);
BinaryenOp BinaryenOrInt32(void);
BinaryenOp BinaryenAndInt32(void);
BinaryenOp BinaryenLeUInt32(void);
BinaryenOp BinaryenGtUInt32(void);
BinaryenOp BinaryenGtUInt64(void);
BinaryenOp BinaryenLtUInt32(void);
BinaryenOp BinaryenLtUInt64(void);
BinaryenOp BinaryenExtendUInt32(void);
BinaryenOp BinaryenSplatVecI8x16(void);
BinaryenOp BinaryenSplatVecI16x8(void);
BinaryenOp BinaryenSplatVecI32x4(void);
BinaryenOp BinaryenSplatVecI64x2(void);
BinaryenOp BinaryenSplatVecF32x4(void);
BinaryenOp BinaryenSplatVecF64x2(void);
BinaryenOp BinaryenExtendS8Int32(void);
BinaryenOp BinaryenExtendS16Int32(void);
BinaryenOp BinaryenExtendS8Int64(void);
BinaryenOp BinaryenExtendS16Int64(void);
BinaryenOp BinaryenExtendS32Int64(void);
BinaryenOp BinaryenTruncSatSFloat32ToInt32(void);
BinaryenOp BinaryenTruncSatSFloat32ToInt64(void);
BinaryenOp BinaryenTruncSatSFloat64ToInt32(void);
BinaryenOp BinaryenTruncSatSFloat64ToInt64(void);
BinaryenOp BinaryenTruncSatUFloat32ToInt32(void);
BinaryenOp BinaryenTruncSatUFloat32ToInt64(void);
BinaryenOp BinaryenTruncSatUFloat64ToInt32(void);
BinaryenOp BinaryenTruncSatUFloat64ToInt64(void);
BinaryenIndex BinaryenGetNumMemorySegments(BinaryenModuleRef module);

"""

# The shape of every expression kind asyncpy understands: its children in
# evaluation order, named by their C API getters. One table for the Python
# reader (asyncpy.binaryen.ir), the generated C walker
# (asyncpy.binaryen.native) and the setters declared below.
#
# LEAF_KINDS have no children. CHILD_SETTERS: Kind:Child,... for the single
# children, Binaryen<Kind>Get<Child> / Binaryen<Kind>Set<Child>, absent
# (NULL) children skipped. VARIADIC_KINDS: Kind:Count,At, i.e.
# Binaryen<Kind>GetNum<Count>(e) children Binaryen<Kind>Get<At>(e, i),
# evaluated before the kind's single children (call_indirect's target).
# Try is the one special case (body, then catch bodies).
LEAF_KINDS = """Nop LocalGet GlobalGet Const Unreachable MemorySize AtomicFence DataDrop
Pop RefNull RefFunc TableSize Rethrow""".split()
VARIADIC_KINDS = """Block:Children,ChildAt Call:Operands,OperandAt
CallIndirect:Operands,OperandAt CallRef:Operands,OperandAt Throw:Operands,OperandAt
TupleMake:Operands,OperandAt""".split()

# Child setters all have one of two shapes in binaryen-c.h:
#   void Binaryen<Kind>Set<Child>(BinaryenExpressionRef expr, BinaryenExpressionRef child);
#   void Binaryen<Kind>Set<Child>At(BinaryenExpressionRef expr, BinaryenIndex index, BinaryenExpressionRef child);
CHILD_SETTERS = """
If:Condition,IfTrue,IfFalse Loop:Body Break:Value,Condition Switch:Value,Condition
LocalSet:Value GlobalSet:Value Load:Ptr Store:Ptr,Value AtomicRMW:Ptr,Value
AtomicCmpxchg:Ptr,Expected,Replacement AtomicWait:Ptr,Expected,Timeout
AtomicNotify:Ptr,NotifyCount SIMDExtract:Vec SIMDReplace:Vec,Value SIMDShuffle:Left,Right
SIMDTernary:A,B,C SIMDShift:Vec,Shift SIMDLoad:Ptr SIMDLoadStoreLane:Ptr,Vec
MemoryInit:Dest,Offset,Size MemoryCopy:Dest,Source,Size MemoryFill:Dest,Value,Size
Unary:Value Binary:Left,Right Select:IfTrue,IfFalse,Condition Drop:Value Return:Value
MemoryGrow:Delta RefIsNull:Value RefAs:Value RefEq:Left,Right TableGet:Index
TableSet:Index,Value TableGrow:Value,Delta TupleExtract:Tuple CallIndirect:Target CallRef:Target
""".split()
INDEXED_SETTERS = ["BlockSetChildAt", "CallSetOperandAt", "CallIndirectSetOperandAt",
                   "CallRefSetOperandAt", "ThrowSetOperandAt", "TupleMakeSetOperandAt"]

CDEF += "".join(
    f"void Binaryen{kind}Set{child}(BinaryenExpressionRef expr, BinaryenExpressionRef child);\n"
    for entry in CHILD_SETTERS for kind, children in [entry.split(":")] for child in children.split(","))
CDEF += "".join(
    f"void Binaryen{name}(BinaryenExpressionRef expr, BinaryenIndex index, BinaryenExpressionRef child);\n"
    for name in INDEXED_SETTERS)

# Linking the bundled runtime (asyncpy.link): retargeting copied expressions.
CDEF += """
void BinaryenCallSetTarget(BinaryenExpressionRef expr, const char* target);
void BinaryenGlobalGetSetName(BinaryenExpressionRef expr, const char* name);
void BinaryenGlobalSetSetName(BinaryenExpressionRef expr, const char* name);
void BinaryenCallIndirectSetTable(BinaryenExpressionRef expr, const char* table);
void BinaryenRefFuncSetFunc(BinaryenExpressionRef expr, const char* funcName);
bool BinaryenLoadIsAtomic(BinaryenExpressionRef expr);
bool BinaryenLoadIsSigned(BinaryenExpressionRef expr);
uint32_t BinaryenLoadGetOffset(BinaryenExpressionRef expr);
uint32_t BinaryenLoadGetBytes(BinaryenExpressionRef expr);
uint32_t BinaryenLoadGetAlign(BinaryenExpressionRef expr);
bool BinaryenStoreIsAtomic(BinaryenExpressionRef expr);
uint32_t BinaryenStoreGetBytes(BinaryenExpressionRef expr);
uint32_t BinaryenStoreGetOffset(BinaryenExpressionRef expr);
uint32_t BinaryenStoreGetAlign(BinaryenExpressionRef expr);
BinaryenType BinaryenStoreGetValueType(BinaryenExpressionRef expr);
BinaryenExpressionRef BinaryenMemorySize(BinaryenModuleRef module, const char* memoryName, bool memoryIs64);
BinaryenExpressionRef BinaryenMemoryGrow(BinaryenModuleRef module, BinaryenExpressionRef delta, const char* memoryName, bool memoryIs64);
BinaryenTableRef BinaryenAddTable(BinaryenModuleRef module, const char* table, BinaryenIndex initial, BinaryenIndex maximum, BinaryenType tableType);
BinaryenTableRef BinaryenGetTable(BinaryenModuleRef module, const char* name);
BinaryenIndex BinaryenTableGetInitial(BinaryenTableRef table);
void BinaryenTableSetInitial(BinaryenTableRef table, BinaryenIndex initial);
bool BinaryenTableHasMax(BinaryenTableRef table);
BinaryenIndex BinaryenTableGetMax(BinaryenTableRef table);
void BinaryenTableSetMax(BinaryenTableRef table, BinaryenIndex max);
BinaryenElementSegmentRef BinaryenAddActiveElementSegment(BinaryenModuleRef module, const char* table, const char* name, const char** funcNames, BinaryenIndex numFuncNames, BinaryenExpressionRef offset);
BinaryenType BinaryenTypeFuncref(void);
void BinaryenRemoveGlobal(BinaryenModuleRef module, const char* name);
"""
CDEF += """
int32_t BinaryenConstGetValueI32(BinaryenExpressionRef expr);
void BinaryenConstSetValueI32(BinaryenExpressionRef expr, int32_t value);
"""
CDEF += """
BinaryenExportRef BinaryenAddTableExport(BinaryenModuleRef module, const char* internalName, const char* externalName);
"""
