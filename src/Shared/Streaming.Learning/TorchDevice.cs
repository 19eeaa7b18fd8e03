using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Streaming.Learning;

/// <summary>Chooses the torch device once, from configuration.</summary>
public static class TorchDevice
{
    /// <summary>
    /// "auto" picks CUDA when this build and machine have it, else CPU; "cuda" requires it; "cpu" is CPU.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or "cuda" where CUDA is not available (names the setting).</exception>
    public static Device Resolve(string name, string setting = "device")
    {
        ArgumentNullException.ThrowIfNull(name);
        NativeAllocator.KeepFreedMemory();
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

/// <summary>
/// Tunes glibc's allocator for tensor work. By default glibc serves blocks over 128 KB-32 MB with fresh
/// mmaps and hands freed memory back to the kernel, so every large temporary tensor page-faults in anew; on
/// this project's VMs that made batched catalogue scoring 2-3x slower (measured with
/// <c>streaming bench adapt</c>). Keeping freed memory in the heap for reuse removes those faults.
/// </summary>
public static class NativeAllocator
{
    private const int MTrimThreshold = -1;
    private const int MTopPad = -2;
    private const int MMmapThreshold = -3;
    private static int applied;

    /// <summary>Whether glibc accepted all three settings.</summary>
    public static bool Applied { get; private set; }

    /// <summary>Applies the settings once per process; a no-op where glibc is not the C library.</summary>
    public static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref applied, 1) == 1)
        {
            return;
        }

        try
        {
            // mallopt returns 0 when glibc refuses a value; the defaults then stay, which is only slower.
            Applied = mallopt(MMmapThreshold, 32 * 1024 * 1024) != 0   // glibc's maximum: blocks up to 32 MB come from the heap
                & mallopt(MTrimThreshold, int.MaxValue) != 0           // never give the heap's top back to the kernel
                & mallopt(MTopPad, 256 * 1024 * 1024) != 0;            // grow the heap in large steps
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl or another libc: keep its defaults.
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);
}
