using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>Chooses the torch device once, from configuration.</summary>
public static class TorchDevice
{
    /// <summary>
    /// "auto" picks CUDA when this build and machine have it, else CPU; "cuda" requires it; "cpu" is CPU.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or "cuda" where CUDA is not available (names the setting).</exception>
    public static Device Resolve(string name, string setting = "device")
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "cpu":
                return CPU;
            case "auto":
                return cuda.is_available() ? CUDA : CPU;
            case "cuda":
                if (!cuda.is_available())
                {
                    throw new ArgumentException($"{setting}: 'cuda' was asked for but CUDA is not available (this build uses TorchSharp-{(IsCudaBuild ? "cuda" : "cpu")}; build with -p:TorchDevice=cuda on a GPU machine)", setting);
                }

                return CUDA;
            default:
                throw new ArgumentException($"{setting}: '{name}' is not one of auto, cpu, cuda", setting);
        }
    }

    private static bool IsCudaBuild => AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.Contains("cuda", StringComparison.OrdinalIgnoreCase) == true);
}
