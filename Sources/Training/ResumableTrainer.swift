/// What ranks compare after a resume, before the first step (`SeedRunner.verifyAgreement`): the
/// counters and the parameters' bits must agree everywhere.
public protocol ResumableTrainer: AnyObject {
    var resumeCounters: [Int] { get }
    var resumedParameters: [Float] { get }
}

extension SeedTrainer: ResumableTrainer {
    public var resumeCounters: [Int] { [epochsDone, stepsDone] }
    public var resumedParameters: [Float] { state.params }
}
