namespace Streaming.Tests;

/// <summary>TorchSharp's native state (seed, threads, default dtype) is global: its tests never run in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchCollection
{
    public const string Name = "torch";
}
